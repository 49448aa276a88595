"""The preemption signal at chosen moments of a job's life, on the real one-node SLURM.

Two trainings of the same tiny row run side by side (one CPU each), each signalled
(`scancel --signal=USR2`, what SLURM sends at a time limit or a preemption) at four moments:

- job A: before any handler exists (interpreter start, signal held back by repro/launch/jobstart.py),
  right after a requeue (the same moment of the restarted job), during the imports (handler in
  place, torch loaded, the training module not), and after the training succeeded;
- job B: during the first step, mid-training, during a checkpoint write (REPRO_TEST_WRITE_DELAY_S
  pauses each write half-way), and its evaluation job during the evaluation.

The job pauses at a named moment through the REPRO_TEST_JOB_PAUSE hook (jobstart.py) and says so
on stderr; the test signals it there. Each must end requeued-and-resumed or COMPLETED, never
FAILED: checked in sacct (every run of the job), in the checkpoints the signals left, in the
record (its `slurm` field counts the requeues), and bit for bit against an uninterrupted run.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from repro.io import safe_torch_load
from repro.launch import jobenv, joblog, submission
from repro.launch.profiles import load_profile
from repro.rows import load_row
from repro.train.checkpoint import checkpoints, step_of
from helpers.statecmp import assert_bitwise_equal
from test_slurm_rows import _finish, _job, _metric_steps, _reference, _wait_for

pytestmark = pytest.mark.slurm

# Checkpoints at 20 and 40: the mid-training signal lands between step 4 and 20 (steps take
# 0.05-0.3 s here, the job acts on a signal within about 0.5 s).
STEPS, EVERY = 40, 20
OVERRIDES = (
    f"TrainSpec.total_steps={STEPS}",
    "TrainSpec.batch_size=8",
    f"RuntimeSpec.ckpt_every={EVERY}",
    "RuntimeSpec.keep_ckpts=100",     # every checkpoint stays: each one a signal left is evidence
    "RuntimeSpec.log_every=1",
    "ModelSpec.model_channels=8",
    "ModelSpec.channels_per_head=8",
    "RuntimeSpec.device='cpu'",
)
PAUSE_S = 40   # upper bound of each pause: it ends as soon as the signal is in


def _profile(pauses: str, write_delay: float = 0.0):
    setup = [f"export REPRO_TEST_JOB_PAUSE='{pauses}'"]
    if write_delay:
        setup.append(f"export REPRO_TEST_WRITE_DELAY_S={write_delay}")
    return dataclasses.replace(load_profile("local"), setup=tuple(setup))


def _signal(job_id: str) -> float:
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True, capture_output=True, timeout=30)
    return time.monotonic()


def _paused_at(entry: dict, moment: str) -> bool:
    try:
        return f"test pause at {moment}" in Path(_job(entry).paths.stderr).read_text(errors="replace")
    except OSError:
        return False


def _runs(job_id: str) -> list[str]:
    """sacct's state of every run of the job (requeued runs first)."""
    p = subprocess.run(["sacct", "-D", "-X", "-n", "-P", "-j", job_id.split("_")[0], "-o", "JobID,State"],
                       capture_output=True, text=True, timeout=30)
    return [ln.split("|")[1] for ln in p.stdout.splitlines() if ln.split("|")[0] == job_id]


def _settled(job_id: str, n: int):
    runs = _runs(job_id)
    return runs if len(runs) >= n and runs[-1] not in ("PENDING", "RUNNING", "REQUEUED") else None


def _temp_of_step(run_dir, step: int) -> bool:
    d = Path(run_dir) / "ckpt"
    return d.is_dir() and any(p.name.startswith(f".step-{step:07d}.pt") and p.name.endswith(".tmp")
                              for p in d.iterdir())


def test_signal_at_every_moment_ends_requeued_or_completed(slurm_cluster, tmp_path):
    row = load_row("demo/digits/nfe1", overrides=OVERRIDES, smoke=True)
    t0 = time.monotonic()
    roots = {k: Path(slurm_cluster.state_dir) / f"sig-{k}-{tmp_path.name}" for k in "AB"}
    plan_a = [p for p in submission.plan_jobs([row], roots["A"], overrides=OVERRIDES, smoke=True) if p.kind == "train"]
    submission.submit_planned(plan_a, _profile(f"start@0={PAUSE_S},start@1={PAUSE_S},imports@2={PAUSE_S},"
                                          f"done@3={PAUSE_S}"), roots["A"], log=lambda *a: None)
    plan_b = submission.plan_jobs([row], roots["B"], overrides=OVERRIDES, smoke=True)
    submission.submit_planned(plan_b, _profile(f"train@0={PAUSE_S},eval@0=6", write_delay=1.0), roots["B"],
                         log=lambda *a: None)
    (a,), (b, b_eval) = joblog.load_jobs(roots["A"]), joblog.load_jobs(roots["B"])
    run_a, run_b = roots["A"] / row.training_key, roots["B"] / row.training_key
    moments = []

    def hit(what, entry, when, timeout=150):
        _wait_for(when, timeout, f"{what} of job {entry['job_id']}", every=0.1)
        _signal(entry["job_id"])
        moments.append((what, entry["job_id"], round(time.monotonic() - t0, 1)))

    def moments_a():
        hit("before the handler", a, lambda: _paused_at(a, "start@0"))
        hit("right after a requeue", a, lambda: _paused_at(a, "start@1"))
        hit("during imports", a, lambda: _paused_at(a, "imports@2"))
        hit("after success", a, lambda: _paused_at(a, "done@3"), timeout=200)

    def moments_b():
        hit("first step", b, lambda: _paused_at(b, "train@0"))
        hit("mid-training", b, lambda: max(_metric_steps(run_b), default=0) >= 4)
        hit("during a checkpoint write", b, lambda: _temp_of_step(run_b, EVERY))
        hit("during evaluation", b_eval, lambda: _paused_at(b_eval, "eval@0"), timeout=200)

    # A and B run at the same time; each one's moments come in order.
    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(moments_a), pool.submit(moments_b)]:
            f.result()
    print(f"\nsignal moments (what, job, s after submit): {moments}")
    ref = _reference(row)   # the uninterrupted run, while the jobs finish

    # End states: every signal before success requeued the job (never FAILED); it then completed.
    runs = {e["job_id"]: _wait_for(lambda e=e, n=n: _settled(e["job_id"], n), 120, f"job {e['job_id']} to end")
            for e, n in ((a, 4), (b, 4), (b_eval, 1))}
    total_s = time.monotonic() - t0
    print(f"sacct runs: {runs}; jobs ended {total_s:.0f} s after submission")
    assert runs[a["job_id"]] == ["REQUEUED"] * 3 + ["COMPLETED"], runs
    assert runs[b["job_id"]] == ["REQUEUED"] * 3 + ["COMPLETED"], runs
    assert runs[b_eval["job_id"]] == ["COMPLETED"], runs

    # A: no signal came while it trained, so it trained once, from step 0, after three requeues.
    assert [step_of(p) for p in checkpoints(run_a)] == [STEPS, EVERY]
    # B: the signals' checkpoints: after the first step, mid-way (not a periodic one), and the
    # periodic one whose write the signal interrupted; then the periodic ones to the end.
    b_steps = sorted(step_of(p) for p in checkpoints(run_b))
    assert b_steps[0] == 1 and 1 < b_steps[1] < EVERY and b_steps[2:] == [EVERY, STEPS], b_steps
    steps = _metric_steps(run_b)
    assert steps == list(range(1, STEPS + 1)), "each step logged once: resumed where the save left off"
    starts = [json.loads(x) for x in (run_b / jobenv.RUNS_FILE).read_text().splitlines()]
    assert [s["restart"] for s in starts] == [0, 1, 2, 3] and {s["job_id"] for s in starts} == {b["job_id"]}

    # The record: written once, by the evaluation that was signalled, naming the jobs and requeues.
    res = _finish(_job(b_eval), 60)
    rec = json.loads(Path(res[0]["record"]).read_text())
    assert rec["slurm"]["train"] == {"job_ids": [b["job_id"]], "requeues": 3, "nodes": starts[0]["nodes"]}
    assert rec["slurm"]["eval"]["job_id"] == b_eval["job_id"] and rec["slurm"]["eval"]["requeues"] == 0
    assert rec["training"]["steps"] == STEPS

    # Bit-exact: both interrupted trainings equal the uninterrupted one.
    for run_dir in (run_a, run_b):
        final = safe_torch_load(checkpoints(run_dir)[0])
        assert final["step"] == ref["step"] == STEPS
        assert assert_bitwise_equal(final, ref) > 50
    for e in (a, b, b_eval):
        errs = Path(_job(e).paths.stderr).read_text(errors="replace")
        assert "Traceback" not in errs, errs[-3000:]
