"""Run rows on SLURM through submitit: one training job per training key, then its evaluations.

Jobs
----
`plan_jobs(rows, run_root, ...)` (repro/launch/submission.py, with `settle_plan` and
`submit_rows`; this file holds the jobs, executors.py their executors, jobenv.py what runs
inside a job besides the work: ranks, threads, the runs file, the signal hand-over) groups
rows by `Row.training_key`. Each key gets ONE `TrainJob`
(trains the first row of the group; the others share its run dir `RUN_ROOT/<key>/`) and ONE
`EvalJob` that evaluates every row of the group. The evaluation is a separate job submitted with
`--dependency=afterok:<train job>` (plus `--kill-on-invalid-dep=yes`, so a failed training
cancels its evaluation instead of leaving it pending forever). Separate jobs, because training
wants the profile's N GPUs x M nodes while evaluation wants one GPU and its share of a node
(the profile's `eval_*` fields); and a requeued (preempted) training keeps its job id, so the
dependency simply waits. All trainings of one submission are one job array
(`slurm_array_parallelism` = profile.array_parallelism); evaluations are single jobs, since
each has its own dependency.

`settle_plan` drops what is done or under way, per key and row, with a line saying so: a key
with a live training job or a final checkpoint is not trained again, a row with a live
evaluation job or a record for this commit and protocol is not evaluated again (`force`
re-submits the finished ones; a live job is never doubled: cancel it first). `submit_rows` is
the whole of `repro submit`: lock, resume an interrupted submission, settle, check inputs
(repro/launch/preflight.py), submit.

Jobs are pickled by submitit with the row *id* and overrides, not the Row: the job rebuilds the
Row inside itself with `repro.rows.load_row(row_id, overrides, smoke)`, so the job runs the gin
files of the checkout it was submitted from, and the pickle stays small and readable.

Submission: a journal line, then sbatch --hold
-----------------------------------------------
Each sbatch (the training array, each evaluation) is preceded by an "intent" line in the job log
naming the job `repro-<kind>-<token>`, and its pickle is written before sbatch too; the job is
submitted held and released only when the whole plan is queued. A `repro submit` killed at any
point therefore leaves nothing running that the log does not know: the next `repro submit`
finds such jobs by name, records them and releases them (repro/launch/joblog.py).

Multi-GPU: `tasks_per_node` (profile; = gpus_per_node on GPU nodes) processes per node, one per
GPU. `setup_distributed()` (jobenv.py) reads rank / world / master from `submitit.JobEnvironment()` and
initialises `torch.distributed` (NCCL on CUDA, else gloo) before the training function runs.

Signals: preemption and time limits
-----------------------------------
SLURM sends USR2 (`--signal=USR2@signal_delay_s`, up to a minute early, and at once on a
GraceTime preemption), at any moment of a job's life. The rules:

- The job's interpreter starts with USR2 ignored and then blocked (repro/launch/jobstart.py), so
  a signal that comes before a handler is in place waits instead of killing the process.
- `TrainJob.__call__` (main thread) installs a handler that only sets a flag, then unblocks the
  signal, and runs everything else (thread settings, torch, the training module, the training)
  in a worker thread. Nothing is imported or waited on inside a signal handler.
- The main thread joins the worker in short slices; when the flag is set (rank 0) it asks the
  loop to checkpoint, waits for the save, and then calls submitit's own handler, which calls
  `TrainJob.checkpoint()` (returns the same call) and runs `scontrol requeue`. If the training
  finished meanwhile, or the signal comes after it finished, the job simply completes.
- `EvalJob` ignores the signal: an evaluation is not checkpointable, so a preemption ends it
  the SLURM way (killed, requeued after the grace time); it is idempotent on requeue (a row whose
  record this job already wrote is skipped).

The training module (`repro.train`, or `hooks=` for tests) provides:

    request_checkpoint() -> None
        Must only set a flag (and clear the "saved" event); never block, never touch CUDA.
    wait_checkpoint_saved(timeout: float) -> bool
        Blocks until the loop has written the checkpoint asked for, True; False on timeout.

and the loop must, after every optimiser step, check the flag; when set: save a full checkpoint
for the step just finished, set the "saved" event, and stop (raise `CheckpointRequested`). Only
rank 0 is asked; rank 0 holds the full replicated state, so its save is enough. Other ranks keep
training and block in the next all-reduce until the requeue kills them: they must not be
required to take part in the save (no collective inside the save path). The wait lasts at most
`checkpoint_wait_s` (profile; keep it below the partition's GraceTime and below
`signal_delay_s`). If the hooks are not loaded yet or the wait times out, the job is still
requeued and resumes from the newest checkpoint it has. On restart `train_row` resumes from the
newest checkpoint by itself, so `checkpoint()` returns the same call.

Each start of a training job appends {job id, restart count, nodes} to
`RUN_ROOT/<key>/slurm_runs.jsonl` (jobenv.py); the evaluation puts those (and its own) into the record's
`slurm` field.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import submitit

from repro.launch.jobenv import (_leave_signal, _take_signal, in_submitit_job, limit_threads, note_training_run,
                                 setup_distributed, slurm_record)
from repro.launch.jobstart import pause_for_test, preemption_signal
from repro.paths import runs_root


def train_one(row_id: str, overrides, run_root, max_steps, smoke) -> str:
    """The default training function of TrainJob: the lead's loop, resuming by itself."""
    from repro.launch.in_training import metric_callback
    from repro.rows import load_row
    from repro.train import train_row
    from repro.train.loop import resolve_device

    row = load_row(row_id, overrides=tuple(overrides), smoke=smoke)
    run_dir = Path(run_root) / row.training_key
    note_training_run(run_dir)
    on_eval = metric_callback(row, run_dir, device=resolve_device(row.runtime.device))
    return str(train_row(row, run_dir, max_steps=max_steps, progress=False, on_eval=on_eval))


class TrainJob(submitit.helpers.Checkpointable):
    """Trains one row (by id) into RUN_ROOT/<training key>/, requeued on preemption/time limit.

    train_fn(row_id, overrides, run_root, max_steps, smoke) -> result; default `train_one`.
    hooks: module name holding request_checkpoint / wait_checkpoint_saved (the protocol above),
    imported by the worker thread, never by a signal handler.
    """

    def __init__(self, train_fn: Optional[Callable] = None, hooks: str = "repro.train",
                 checkpoint_wait_s: float = 60.0):
        self.train_fn = train_fn
        self.hooks = hooks
        self.checkpoint_wait_s = float(checkpoint_wait_s)

    def __getstate__(self):
        # The pickle (and the requeued call's) carries the configuration, not this run's state.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __call__(self, row_id: str, overrides=(), run_root=None, max_steps: Optional[int] = None,
                 smoke: bool = False):
        run_root = run_root or runs_root()
        fn = self.train_fn or train_one
        self._hook_fns, self._saved = None, False
        box: dict = {}
        sig = preemption_signal()
        signalled, seen = threading.Event(), threading.Event()   # to act on / ever came

        def work():
            try:
                limit_threads()
                setup_distributed()
                pause_for_test("imports")   # held here while the main thread acts on a signal
                self._hook_fns = self._load_hooks()
                pause_for_test("train", seen.is_set)
                box["result"] = fn(row_id, tuple(overrides), str(run_root), max_steps, smoke)
            except BaseException as e:  # handed to the main thread below
                box["error"] = e

        previous = _take_signal(sig, lambda signum, frame: (signalled.set(), seen.set()))  # flags, nothing more
        try:
            # Daemon: if submitit exits the process after a requeue, nothing waits for this thread.
            t = threading.Thread(target=work, name="repro-train", daemon=True)
            t.start()
            while True:
                t.join(0.5)   # short joins: the main thread stays free to act on a signal
                if not t.is_alive():
                    break
                if signalled.is_set():
                    signalled.clear()
                    if self._on_signal(sig, previous, t, box) == "finished":
                        break
            pause_for_test("done", seen.is_set)
        finally:
            _leave_signal(sig, previous)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _load_hooks(self):
        import importlib

        try:
            mod = importlib.import_module(self.hooks)
        except ModuleNotFoundError as e:
            if e.name is None or not (self.hooks == e.name or self.hooks.startswith(e.name + ".")):
                raise
            return None
        request = getattr(mod, "request_checkpoint", None)
        return (request, getattr(mod, "wait_checkpoint_saved", None)) if request is not None else None

    def _hooks(self):
        """(request_checkpoint, wait_checkpoint_saved) once the worker loaded them, else (None, None).
        Safe inside a signal handler: it only reads an attribute."""
        return self.__dict__.get("_hook_fns") or (None, None)

    def _on_signal(self, sig, previous, worker, box):
        if in_submitit_job() and int(os.environ.get("SLURM_PROCID") or 0) != 0:
            return None  # rank 0 requeues the whole job; the others keep going until then
        request, wait = self._hooks()
        if request is not None and not self._saved:
            t0 = time.monotonic()
            request()
            saved = False
            while time.monotonic() - t0 < self.checkpoint_wait_s:
                if wait is not None and wait(0.2):
                    saved = True
                    break
                if not worker.is_alive():  # stopped after its save, or ended: either way, no more waiting
                    saved = wait is not None and bool(wait(0))
                    break
                if wait is None:
                    time.sleep(0.2)
            self._saved = saved
            print(f"repro.launch: checkpoint on signal {'saved' if saved else 'NOT saved'} after "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        if not worker.is_alive() and "result" in box:
            return "finished"   # it ended meanwhile: complete, do not requeue
        if callable(previous):
            previous(sig, None)  # submitit: checkpoint() -> requeue -> exit
        return None

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """submitit's requeue callback: save (unless done for this signal already), return the same call."""
        request, wait = self._hooks()
        if request is not None and not self.__dict__.get("_saved"):
            t0 = time.monotonic()
            request()
            saved = wait(self.checkpoint_wait_s) if wait is not None else False
            self._saved = saved
            print(f"repro.launch: checkpoint on signal {'saved' if saved else 'NOT saved (timeout)'} "
                  f"after {time.monotonic() - t0:.1f} s", flush=True)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _own_record(row, run_dir, job_id: str):
    """A record of `row` this (requeued) evaluation job already wrote, else None."""
    from repro.launch.preflight import records_of

    for path, rec in records_of(row, run_dir):
        if str(((rec.get("slurm") or {}).get("eval") or {}).get("job_id")) == job_id:
            return path
    return None


def eval_rows(row_ids, overrides, run_root, smoke, num) -> list[dict]:
    """The default evaluation function of EvalJob: sample, score, record (as `repro run` does)."""
    from repro.results.evaluate import evaluate_and_record
    from repro.rows import load_row

    out = []
    for row_id in row_ids:
        row = load_row(row_id, overrides=tuple(overrides), smoke=smoke)
        run_dir = Path(run_root) / row.training_key
        info = slurm_record(run_dir)
        done = _own_record(row, run_dir, info["eval"]["job_id"]) if info else None
        if done is not None:
            print(f"{row.id}: already recorded by this job before its requeue: {done}", flush=True)
            out.append({"row": row.id, "metrics": None, "record": str(done)})
            continue
        res = evaluate_and_record(row, run_dir, num=num, progress=False, slurm=info)
        out.append({"row": row.id, "metrics": res["metrics"], "record": str(res["record_path"])})
        print(f"{row.id}: {res['metrics']} -> {res['record_path']}", flush=True)
    return out


class EvalJob:
    """Evaluates rows (ids) from their training key's run dir; eval_fn injectable for tests.
    Ignores the preemption signal (module docstring)."""

    def __init__(self, eval_fn: Optional[Callable] = None):
        self.eval_fn = eval_fn

    def __call__(self, row_ids, overrides=(), run_root=None, smoke: bool = False, num: Optional[int] = None):
        if threading.current_thread() is threading.main_thread() and in_submitit_job():
            signal.signal(preemption_signal(), signal.SIG_IGN)
        pause_for_test("eval")
        limit_threads()
        return (self.eval_fn or eval_rows)(list(row_ids), tuple(overrides), str(run_root or runs_root()), smoke, num)
