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
On SLURM (`repro verify --rerun RECORD --profile NAME`, repro/launch/rerun.py) the same steps run
as one job queued the way `repro submit` queues its jobs: `prepare` checks the inputs on the login
node, `workspace` puts the code and the outputs under the run root (which the compute nodes read),
the job runs `run_repro` there and writes the new record to a JSON file, and the login node waits
for it and calls `conclude`, so both paths compare with the same code.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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


@dataclass
class Rerun:
    """A validated re-run: the record, its commit, the `repro run` arguments, the report so far."""
    record_path: str
    record: dict
    commit: str
    in_place: bool            # this checkout is at the commit, clean: no worktree needed
    cmd: list
    lines: list = field(default_factory=list)


def prepare(record_path, device=None) -> Rerun:
    """Check everything a re-run needs before any work starts (ReproError naming what is wrong):
    the record reads and names a commit, the commit is in this repository, the row exists there."""
    from repro.results.provenance import git_state
    from repro.results.records import read_record

    record = read_record(record_path)
    commit = _get(record, "git.commit")
    if not isinstance(commit, str) or not commit:
        raise ReproError(f"{record_path}: records no git commit; there is no code to re-run it with")
    repo, here = _checkout(), git_state()
    in_place = here.get("commit") == commit and here.get("dirty") is False
    if not in_place and _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise ReproError(f"{record_path}: commit {commit[:12]} is not in this repository "
                         f"({repo}); `git fetch` it, or re-run from a clone that has it")
    row, own = record["row"], os.environ.get("REPRO_GIN")
    # the re-run reads rows as `repro run` does: $REPRO_GIN (inherited), else the commit's gin/
    if own and not (Path(own) / f"{row}.gin").is_file():
        raise ReproError(f"{record_path}: row {row} is not in $REPRO_GIN ({own}); unset REPRO_GIN or add the row")
    if not own and _git(repo, "cat-file", "-e", f"{commit}:gin/{row}.gin").returncode != 0:
        raise ReproError(f"{record_path}: row {row} (gin/{row}.gin) does not exist at commit {commit[:12]}; "
                         f"the record cannot be re-run from this repository")
    lines = [f"record {record_path}: row {row}, commit {commit[:12]}, date {record['date']}"]
    if in_place:
        lines.append(f"code: this checkout (at {commit[:12]}, no uncommitted changes)")
    else:
        lines.append(f"code: a temporary git worktree of {commit[:12]} (this checkout is at "
                     f"{str(here.get('commit'))[:12]}{', dirty' if here.get('dirty') else ''})")
    cmd = run_command(record) + (["--device", device] if device else [])
    return Rerun(str(record_path), record, commit, in_place, cmd, lines)


@contextlib.contextmanager
def workspace(job: Rerun, work: Path):
    """Yields (code dir, environment overrides) for a re-run writing only under `work`: this
    checkout, or a git worktree of the commit at `work/src` (removed on exit, with `work`'s
    contents when `work` was made here)."""
    work, repo = Path(work), _checkout()
    made = not work.exists()
    src, worktree = repo, None
    try:
        for d in ("runs", "tables/results"):
            (work / d).mkdir(parents=True, exist_ok=True)
        if not job.in_place:
            worktree = work / "src"
            r = _git(repo, "worktree", "add", "--detach", str(worktree), job.commit, timeout=600)
            if r.returncode != 0:
                worktree = None
                raise ReproError(f"{repo}: git worktree add of {job.commit[:12]} failed "
                                 f"({r.stderr.strip()[:200]}); check the repository")
            src = worktree
        yield src, {"PYTHONPATH": str(src), "REPRO_ROOT": str(work), "REPRO_RUNS": str(work / "runs"),
                    "REPRO_TABLES": str(work / "tables")}
    finally:
        if worktree is not None:
            _git(repo, "worktree", "remove", "--force", str(worktree))
        if made:
            shutil.rmtree(work, ignore_errors=True)


def conclude(job: Rerun, new: dict, wall_s: float):
    """The VerifyResult of a finished re-run: the report so far, then `compare`'s lines."""
    from repro.results.verify import VerifyResult

    ok, cmp_lines = compare(job.record, new, job.record_path)
    lines = job.lines + [f"re-run took {wall_s:.0f} s"] + cmp_lines
    lines.append("verified: the re-run reproduces the record" if ok else
                 "NOT verified: the re-run disagrees with the record")
    return VerifyResult(ok, 0 if ok else 1, lines)


def rerun_record(record_path, device=None, log=print, run_fn=None):
    """Re-create here and compare; returns repro.results.verify.VerifyResult. `run_fn(src, cmd, env,
    work, log) -> new record dict` is injectable (tests); the default runs `repro run` in `src`."""
    job = prepare(record_path, device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="repro-rerun-") as work, workspace(job, Path(work)) as (src, env):
        log(f"re-running: repro {' '.join(job.cmd)}  (code from {src})")
        new = (run_fn or run_repro)(src, job.cmd, {**os.environ, **env}, Path(work), log)
    return conclude(job, new, time.perf_counter() - t0)


def run_repro(src, cmd, env, work, log, on_start=None) -> dict:
    """Run `repro <cmd>` with the code in `src` (a child process, cwd `work`, environment `env`,
    its output passed to `log`); returns the record it wrote. `on_start(proc)` gets the child."""
    argv = [sys.executable, "-c", "import sys; from repro.cli import main; sys.exit(main())", *cmd]
    proc = subprocess.Popen(argv, cwd=str(work), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if on_start is not None:
        on_start(proc)
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
