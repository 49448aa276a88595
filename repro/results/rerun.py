"""`repro verify --rerun RECORD`: re-create the run a record describes and compare every number.

The run is the record's row with its overrides (`row_args`), trained and evaluated with the same
protocol and seeds, by the code of the record's commit: in place when this checkout is at that
commit with no uncommitted changes, else in a temporary `git worktree` of the commit, running that
checkout's `repro run` with this Python environment (so a commit whose `repro run` lacks --set,
--runs, --tables, --num or --steps cannot be re-run this way). Everything the re-run writes goes
to a temporary directory; the registry is not touched.

How numbers are compared:
- bitwise (equal floats; the checkpoint's sha256 is only reported, since the file also holds
  wall-clock times) when the recorded environment matches
  this one in every field of ENV_FIELDS and all of them are recorded: the same computation on the
  same software and hardware must give the same bits;
- otherwise within the measured noise: max(2 std over the record's seed repeats in the registry
  (repro/results/spread.py), the verify tolerance of repro/results/tolerances.py); without
  repeats, the verify tolerance alone.
On SLURM (through `repro submit`) this is not wired yet: run it on a machine that can train the row.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repro.io import ReproError

# (field in the record, what it is): all must be recorded and equal for a bitwise comparison
ENV_FIELDS = (("packages.torch", "torch version"), ("hardware.device", "device"),
              ("hardware.count", "device count"), ("runtime.bf16", "bf16"),
              ("runtime.tf32", "tf32"), ("determinism.deterministic_algorithms", "deterministic algorithms"),
              ("determinism.cudnn_deterministic", "cudnn deterministic"),
              ("determinism.threads", "thread count"))


def _get(d, dotted):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _git(repo, *args, timeout=120):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout)


def _checkout() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def run_command(record: dict) -> list:
    """The `repro run` arguments that re-create `record`'s result."""
    args = record.get("row_args") or {}
    cmd = ["run", record["row"], "--no-progress", "--num", str(int(record["protocol"]["num_samples"]))]
    for o in args.get("overrides") or ():
        cmd += ["--set", str(o)]
    if args.get("smoke"):
        cmd.append("--smoke")
    steps, total = _get(record, "training.steps"), _get(record, "training.total_steps")
    if isinstance(steps, int) and isinstance(total, int) and steps < total:
        cmd += ["--steps", str(steps)]
    return cmd


def rerun_record(record_path, device=None, log=print, run_fn=None):
    """Re-create and compare; returns repro.results.verify.VerifyResult. `run_fn(src, cmd, env,
    work) -> new record dict` is injectable (tests); the default runs `repro run` in `src`."""
    from repro.results.records import git_state, read_record
    from repro.results.verify import VerifyResult

    record = read_record(record_path)
    commit = _get(record, "git.commit")
    if not isinstance(commit, str) or not commit:
        raise ReproError(f"{record_path}: records no git commit; there is no code to re-run it with")
    repo = _checkout()
    here = git_state()
    lines = [f"record {record_path}: row {record['row']}, commit {commit[:12]}, date {record['date']}"]
    cmd = run_command(record) + (["--device", device] if device else [])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="repro-rerun-") as work:
        work = Path(work)
        if here.get("commit") == commit and here.get("dirty") is False:
            src, worktree = repo, None
            lines.append(f"code: this checkout (at {commit[:12]}, no uncommitted changes)")
        else:
            if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
                raise ReproError(f"{record_path}: commit {commit[:12]} is not in this repository "
                                 f"({repo}); `git fetch` it, or re-run from a clone that has it")
            worktree = work / "src"
            r = _git(repo, "worktree", "add", "--detach", str(worktree), commit, timeout=600)
            if r.returncode != 0:
                raise ReproError(f"{repo}: git worktree add of {commit[:12]} failed "
                                 f"({r.stderr.strip()[:200]}); check the repository")
            src = worktree
            lines.append(f"code: a temporary git worktree of {commit[:12]} (this checkout is at "
                         f"{str(here.get('commit'))[:12]}{', dirty' if here.get('dirty') else ''})")
        try:
            for d in ("runs", "tables/results"):
                (work / d).mkdir(parents=True)
            env = {**os.environ, "PYTHONPATH": str(src), "REPRO_ROOT": str(work),
                   "REPRO_RUNS": str(work / "runs"), "REPRO_TABLES": str(work / "tables")}
            log(f"re-running: repro {' '.join(cmd)}  (code from {src})")
            new = (run_fn or _run_repro)(src, cmd, env, work, log)
        finally:
            if worktree is not None:
                _git(repo, "worktree", "remove", "--force", str(worktree))
    wall = time.perf_counter() - t0
    lines.append(f"re-run took {wall:.0f} s")
    ok, cmp_lines = compare(record, new, record_path)
    lines += cmp_lines
    lines.append("verified: the re-run reproduces the record" if ok else
                 "NOT verified: the re-run disagrees with the record")
    return VerifyResult(ok, 0 if ok else 1, lines)


def _run_repro(src, cmd, env, work, log) -> dict:
    argv = [sys.executable, "-c", "import sys; from repro.cli import main; sys.exit(main())", *cmd]
    proc = subprocess.Popen(argv, cwd=str(work), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        log(f"  | {line.rstrip()}")
    if proc.wait() != 0:
        raise ReproError(f"re-run: `repro {' '.join(cmd)}` failed (exit {proc.returncode}); "
                         f"last lines: {' / '.join(tail[-3:])}")
    found = sorted((work / "tables" / "results").rglob("*.json")) or \
        sorted((work / "runs").rglob("record.json"))
    if not found:
        raise ReproError("re-run: the run wrote no result record; see its output above")
    return json.loads(found[-1].read_text())


def noise_band(record: dict, name: str):
    """(band, how it was found) for metric `name`: max(2 std of the record's seed repeats in the
    registry, the verify tolerance), or the verify tolerance alone without repeats."""
    from repro.results import spread, tolerances as tol
    from repro.results.records import flatten, load_records

    m = tol.metric(name)
    vt = m.verify_tolerance(float(record["ours"][name]))
    try:
        df = load_records()
    except ReproError:
        df = None
    flat = {**flatten(record), "path": ""}
    group = spread.seed_groups(df, {record["row"]: flat}).get(record["row"], []) if df is not None else []
    st = spread.stats(group, name) if len(group) > 1 else None
    if st is None:
        return vt, f"verify tolerance ±{vt:.{m.digits}f} (no seed repeats recorded)"
    return max(2 * st[1], vt), (f"max(2 std = {2 * st[1]:.{m.digits}f} over {st[2]} seed repeats, "
                                f"verify tolerance {vt:.{m.digits}f})")


def compare(record: dict, new: dict, source="record"):
    """(ok, lines): the environment fields, then every recorded number against the re-run's."""
    from repro.results import tolerances as tol

    lines, same, unknown = [], [], []
    for field, what in ENV_FIELDS:
        a, b = _get(record, field), _get(new, field)
        if a is None or b is None:
            unknown.append(what)
        elif a == b:
            same.append(f"{what} {a}")
        else:
            lines.append(f"env: {what} differs: recorded {a!r}, here {b!r}")
    differs = any(ln.startswith("env:") for ln in lines)
    bitwise = not differs and not unknown
    lines.append(f"env compared: {', '.join(f for _, f in ENV_FIELDS)}; equal: {', '.join(same) or 'none'}"
                 + (f"; not recorded: {', '.join(unknown)}" if unknown else ""))
    lines.append("comparison: bitwise (the environment matches in every field)" if bitwise else
                 "comparison: within the measured noise (the environment differs or is not fully recorded)")
    ok = True
    a, b = _get(record, "checkpoint.sha256"), _get(new, "checkpoint.sha256")
    if a and b:
        # a checkpoint also holds its wall-clock time, so equal weights still hash differently:
        # the numbers below are the comparison, the hashes only a note
        lines.append(f"note checkpoint sha256: recorded {a[:16]}…, re-run {b[:16]}… "
                     f"({'equal' if a == b else 'different: the file holds wall-clock times too'})")
    for name, old in sorted(record["ours"].items()):
        if old is None:
            continue
        m = tol.metric(name)
        got = (new.get("ours") or {}).get(name)
        if got is None:
            ok = False
            lines.append(f"FAIL {name}: recorded {old:.{m.digits}f}, the re-run gave none")
            continue
        if bitwise:
            agree = float(got) == float(old)
            how = "bitwise"
        else:
            band, how = noise_band(record, name)
            agree = abs(float(got) - float(old)) <= band + 1e-9
        ok &= agree
        lines.append(f"{'ok  ' if agree else 'FAIL'} {name}: recorded {old:.{m.digits}f}, re-run "
                     f"{float(got):.{m.digits}f} (Δ {float(got) - old:+.{m.digits}f}; {how})")
    return ok, lines
