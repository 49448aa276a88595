"""The repository cites only what its users have: the papers, public code, or its own files.

Development notes that lived beside the checkout (a spec, design and style notes, copies of the
papers) are not shipped, so a citation such as "see the spec, section 6" or a relative path to a
folder beside the checkout leaves the reader stuck. docs/FIDELITY.md holds what those notes said about paper
vs code; cite it, or the paper's section, equation or table, instead.
"""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()
# Result records are immutable provenance; what they say is history, not documentation.
EXCLUDED_DIRS = ("tables/results/", ".git/")

FORBIDDEN = [
    (re.compile(r"\.\./shared\b"), "path outside the repository"),
    (re.compile(r"\bshared" + "/papers\\b"), "copies of the papers beside the checkout"),
    (re.compile(r"\bSPEC\b"), "citation of the unshipped spec (cite the paper or docs/FIDELITY.md)"),
    (re.compile(r"\b(DESIGN|STYLE)\.md\b"), "unshipped development notes"),
    (re.compile(r"\bict-settings-confirmed\b|\bslurm-notes\.md\b"), "unshipped development notes"),
]


def offending(line: str) -> list:
    return [why for rx, why in FORBIDDEN if rx.search(line)]


def _files() -> list:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an unpacked sdist)
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()]
    return [n for n in names if n != SELF and not n.startswith(EXCLUDED_DIRS) and ".egg-info/" not in n]


def _text(path: Path):
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted in the working tree
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# The samples are assembled from parts, so that this file never spells what it forbids.
_OUTSIDE, _NOTES = "../" + "sha" + "red", "SP" + "EC"


def test_the_detector_flags_outside_citations_only():
    assert offending(f"see `{_OUTSIDE}/{_NOTES}.md` §6")
    assert offending(f"# middle sigma: UNCONFIRMED ({_NOTES} 1.9)")
    assert offending(f"a number that {_NOTES} calls UNCONFIRMED")
    assert offending("as DESIGN.md says")
    assert not offending("from repro.configurables import SPEC_CLASSES")
    assert not offending("TRAINING_SPECS = (...)  # see docs/FIDELITY.md and sLCT §4.4, Eq. 9")
    assert not offending("export REPRO_CACHE=/shared/cache/repro")


def test_no_reference_to_files_outside_the_repository():
    scanned, hits = [], []
    for name in _files():
        text = _text(ROOT / name)
        if text is None:
            continue
        scanned.append(name)
        for no, line in enumerate(text.splitlines(), 1):
            for why in offending(line):
                hits.append(f"{name}:{no}: {why}: {line.strip()[:120]}")
    assert "README.md" in scanned and any(n.startswith("gin/") for n in scanned), "scanned too little"
    assert not hits, "references users cannot follow:\n" + "\n".join(hits)
