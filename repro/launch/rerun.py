"""`repro verify --rerun RECORD --profile NAME`: the re-run of a record (repro/results/rerun.py) as
one SLURM job, queued through the path `repro submit` uses (its profile, `make_executor`, the job
log and its held-then-released sbatch), so `repro status` lists it and `repro cancel` stops it.

The login node checks every input before anything is queued (the record, its commit, the row at
that commit, the profile, SLURM), puts the code (this checkout, or a git worktree of the commit)
and the re-run's outputs in RUN_ROOT/slurm/rerun/<stamp>-<token>/, which the compute nodes read,
and waits. The job (`RerunJob`) runs `repro run` there with that code, as the local re-run does,
and writes the new record to `rerun_record.json` in its submitit folder, beside its logs (kept).
The login node reads it and compares with `repro.results.rerun.conclude`, the local path's code;
the worktree and the outputs are removed afterwards.

The job is one task on one node with the evaluation job's resources (the profile's `eval_*`: one
GPU on a GPU profile) and the training's time limit. At the time limit or a preemption (USR2) it
stops `repro run` with SIGTERM, which checkpoints after the current step, and is requeued; the
requeued job runs the same `repro run`, which resumes from that checkpoint.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import submitit

from repro.io import ReproError
from repro.launch.jobstart import preemption_signal
from repro.launch.jobenv import _leave_signal, _take_signal, in_submitit_job

RESULT_NAME = "rerun_record.json"


class RerunJob(submitit.helpers.Checkpointable):
    """On the node: `repro run` (repro.results.rerun.run_repro) in a worker thread; the main thread
    takes the preemption signal, stops the child (it saves a checkpoint) and hands over to
    submitit's requeue. Returns the path of the new record's JSON."""

    def __init__(self, checkpoint_wait_s: float = 60.0):
        self.checkpoint_wait_s = float(checkpoint_wait_s)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __call__(self, src: str, cmd: list, env: dict, work: str) -> str:
        box: dict = {}
        sig = preemption_signal()
        signalled = threading.Event()
        # Started before the handler goes in: the thread, and so `repro run`, keep the signal
        # blocked (jobstart), so only this thread takes it and the child is stopped by SIGTERM.
        t = threading.Thread(target=self._work, args=(src, cmd, env, work, box), name="repro-rerun", daemon=True)
        t.start()
        previous = _take_signal(sig, lambda signum, frame: signalled.set())
        try:
            while True:
                t.join(0.5)
                if not t.is_alive():
                    break
                if signalled.is_set():
                    signalled.clear()
                    self._stop_child(box)
                    if not t.is_alive() and "result" in box:
                        break
                    if callable(previous):
                        previous(sig, None)   # submitit: checkpoint() -> requeue -> exit
        finally:
            _leave_signal(sig, previous)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _work(self, src, cmd, env, work, box) -> None:
        from repro.io import atomic_write_text
        from repro.results.rerun import run_repro

        try:
            new = run_repro(src, list(cmd), {**os.environ, **env}, Path(work), lambda s: print(s, flush=True),
                            on_start=lambda proc: box.__setitem__("proc", proc))
            folder = submitit.JobEnvironment().paths.folder if in_submitit_job() else Path(work)
            out = Path(folder) / RESULT_NAME
            atomic_write_text(out, json.dumps(new, indent=1, sort_keys=True) + "\n")
            box["result"] = str(out)
        except BaseException as e:   # handed to the main thread
            box["error"] = e

    def _stop_child(self, box) -> None:
        """SIGTERM to `repro run` (it saves a checkpoint after the current step), waited for at most
        checkpoint_wait_s; a child not started yet or already gone needs nothing."""
        import subprocess

        proc = box.get("proc")
        if proc is None or proc.poll() is not None:
            return
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.checkpoint_wait_s)
            print(f"repro.launch: re-run stopped for requeue after {time.monotonic() - t0:.1f} s "
                  f"(exit {proc.returncode})", flush=True)
        except subprocess.TimeoutExpired:
            print(f"repro.launch: re-run did not stop within {self.checkpoint_wait_s:.0f} s; requeued anyway",
                  flush=True)


def _job_handle(run_root, job_id: str):
    from submitit.slurm.slurm import SlurmJob

    from repro.launch import joblog

    entry = next(e for e in reversed(joblog.load_jobs(run_root)) if e["job_id"] == job_id)
    return SlurmJob(folder=entry["folder"], job_id=job_id, tasks=range(int(entry.get("tasks", 1))))


def _wait(job, log, poll_s: float) -> str:
    """Wait for the job (its state changes logged); the path it returned, or a one-line ReproError."""
    from repro.launch.jobstates import last_error_line

    last = None
    while not job.done():
        state = job.state
        if state != last and state != "UNKNOWN":   # UNKNOWN: sacct has not seen it yet
            log(f"re-run job {job.job_id}: {state}")
            last = state
        time.sleep(poll_s)
    try:
        return job.result()
    except Exception:
        err = last_error_line(job.paths.stderr) or "(no error line in its log)"
        raise ReproError(f"re-run job {job.job_id} ({job.state}) failed: {err}; its log: {job.paths.stderr}") from None


def rerun_on_slurm(record_path, profile: str, runs=None, device=None, log=print, poll_s: float = 2.0):
    """`repro verify --rerun RECORD --profile NAME`; returns repro.results.verify.VerifyResult."""
    from repro.launch.joblog import slurm_folder
    from repro.launch.jobstates import check_slurm
    from repro.launch.profiles import load_profile
    from repro.launch.submission import PlannedJob, submit_job
    from repro.paths import runs_root
    from repro.results import rerun

    job = rerun.prepare(record_path, device)
    prof = load_profile(profile)
    check_slurm()
    run_root = runs_root(runs).resolve()
    work = slurm_folder(run_root) / "rerun" / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    with rerun.workspace(job, work) as (src, env):
        planned = PlannedJob("rerun", str(job.record.get("training_key", "")), [job.record["row"]], ())
        job_id = submit_job(RerunJob(prof.checkpoint_wait_s), (str(src), list(job.cmd), env, str(work)), planned,
                            prof, run_root, kind="eval", log=log, timeout_min=prof.time_min)
        handle = _job_handle(run_root, job_id)
        log(f"re-run job {job_id} (profile {prof.name}): repro {' '.join(job.cmd)}  (code from {src}); "
            f"its log: {handle.paths.stdout}")
        try:
            result = _wait(handle, log, poll_s)
        except KeyboardInterrupt:
            handle.cancel(check=False)   # its code and outputs go with the workspace
            log(f"re-run job {job_id} cancelled")
            raise
        new = json.loads(Path(result).read_text())
    job.lines.append(f"re-ran as SLURM job {job_id} (profile {prof.name}); its record: {result}")
    return rerun.conclude(job, new, time.perf_counter() - t0)
