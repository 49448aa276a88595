"""What the bad-input tests share (tests/test_reliability_bad_inputs.py,
tests/test_reliability_bad_records_profiles.py): the corpus (tests/bad_inputs/), a snapshot of the
isolated dirs, and the check every case passes through the CLI: exit 2, ONE line on stderr that
names the problem, nothing written or changed."""
import hashlib
import os
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "bad_inputs"


def snapshot(root: Path) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for x in dirs:
            out[os.path.relpath(os.path.join(d, x), root)] = "dir"
        for x in files:
            p = os.path.join(d, x)
            if os.path.islink(p) or not os.path.isfile(p):     # a FIFO case: opening it would block
                out[os.path.relpath(p, root)] = f"special {os.lstat(p).st_mode:o}"
                continue
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def check_case(case, setup, expected, isolated, monkeypatch, capsys, ckpt=None):
    """Run one case (`setup(tmp, monkeypatch, ckpt) -> argv`) and check what the user gets."""
    from repro.cli import main

    monkeypatch.delenv("REPRO_GIN", raising=False)
    try:
        argv = setup(isolated, monkeypatch, ckpt)
        capsys.readouterr()
        before = snapshot(isolated)
        rc = main(argv)
        out, err = capsys.readouterr()
        after = snapshot(isolated)
    finally:
        os.environ.pop("REPRO_GIN", None)
    assert rc == 2, (rc, out, err)
    # one error line (a preceding 'warning:' line, e.g. --allow-nonstandard's, is allowed)
    lines = [x for x in err.strip().splitlines() if ": warning: " not in x]
    assert len(lines) == 1 and " error: " in lines[0], err
    for s in expected:
        assert s in lines[0], f"{s!r} not in {lines[0]!r}"
    assert after == before, f"{case} wrote or changed files: " + str(
        {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)})
    print(f"\n{case}: {lines[0]}")
