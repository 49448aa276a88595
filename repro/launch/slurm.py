"""Run rows on SLURM through submitit: one training job per training key, then its evaluations.

Jobs
----
`plan_jobs(rows, profile, ...)` groups rows by `Row.training_key`. Each key gets ONE `TrainJob`
(trains the first row of the group; the others share its run dir `RUN_ROOT/<key>/`) and ONE
`EvalJob` that evaluates every row of the group. The evaluation is a separate job submitted with
`--dependency=afterok:<train job>` (plus `--kill-on-invalid-dep=yes`, so a failed training
cancels its evaluation instead of leaving it pending forever). Separate jobs, because training
wants the profile's N GPUs x M nodes while evaluation wants one GPU; and a requeued (preempted)
training keeps its job id, so the dependency simply waits. All trainings of one submission are
one job array (`slurm_array_parallelism` = profile.array_parallelism); evaluations are single
jobs, since each has its own dependency.

Jobs are pickled by submitit with the row *id* and overrides, not the Row: the job rebuilds the
Row inside itself with `repro.rows.load_row(row_id, overrides, smoke)`, so the job runs the gin
files of the checkout it was submitted from, and the pickle stays small and readable.

Multi-GPU: `tasks_per_node = gpus_per_node`, one process per GPU. `setup_distributed()` reads
rank / world / master from `submitit.JobEnvironment()` and initialises `torch.distributed`
(NCCL on CUDA, else gloo) before the training function runs.

Preemption and time limits: the checkpoint-request protocol
-----------------------------------------------------------
SLURM sends USR2 (`--signal=USR2@signal_delay_s`, and at once on a GraceTime preemption).
submitit's handler runs *in the main thread* of global rank 0 only, and calls
`TrainJob.checkpoint()`, then requeues the job and exits. So that the loop can still make
progress while the handler waits, `TrainJob.__call__` runs the training function in a worker
thread and the main thread only joins it. The training module (`repro.train`, or `hooks=` for
tests) provides:

    request_checkpoint() -> None
        Called from the signal handler (another thread). Must only set a flag (and clear the
        "saved" event); never block, never touch CUDA.
    wait_checkpoint_saved(timeout: float) -> bool
        Blocks until the loop has written the checkpoint asked for, True; False on timeout.

and the loop must, after every optimiser step, check the flag; when set: save a full checkpoint
(`ckpt/latest.pt`, atomically) for the step just finished, set the "saved" event, and stop
(raise `CheckpointRequested` or return). Only rank 0 is asked (submitit does not call
`checkpoint()` on other ranks); rank 0 holds the full replicated state, so its save is enough.
Other ranks keep training and block in the next all-reduce until the requeue kills them — they
must not be required to take part in the save (no collective inside the save path).
`checkpoint()` waits at most `checkpoint_wait_s` (profile; keep it below the partition's
GraceTime and below `signal_delay_s`). If the hooks are missing or the wait times out, the job
is still requeued and resumes from the newest periodic checkpoint (only the work since then is
lost). On restart `train_row` resumes from `ckpt/latest.pt` by itself, so `checkpoint()` returns
the same call (`DelayedSubmission(self, same args)`).

Job log
-------
Every submitted job is one JSON line in `RUN_ROOT/slurm/jobs.jsonl`; repro/launch/joblog.py
writes it and answers `repro status` / `repro cancel`.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import submitit

from repro.io import ReproError
from repro.launch.joblog import check_slurm, record_job, slurm_folder
from repro.launch.profiles import Profile
from repro.paths import runs_root
from repro.rows.group import group_by_training_key

MAX_REQUEUES = 100  # time-limit requeues per job before submitit gives up


# ---------------------------------------------------------------------------------------------
# Executors


def executor_parameters(profile: Profile, kind: str = "train", name: str = "repro",
                        dependency: Optional[str] = None) -> dict:
    """AutoExecutor.update_parameters() keywords for a job of `kind` ('train' or 'eval')."""
    train = kind == "train"
    gpus = profile.gpus_per_node if train else min(1, profile.gpus_per_node)
    params = dict(
        name=name,
        timeout_min=profile.time_min,
        nodes=profile.nodes if train else 1,
        tasks_per_node=max(1, gpus),     # one process (DDP rank) per GPU
        cpus_per_task=profile.cpus_per_task,
        slurm_signal_delay_s=profile.signal_delay_s,
        slurm_array_parallelism=profile.array_parallelism,
    )
    if gpus:
        params["gpus_per_node"] = gpus
    if profile.mem_gb:
        params["mem_gb"] = profile.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(profile, key):
            params[f"slurm_{key}"] = getattr(profile, key)
    if profile.setup:
        params["slurm_setup"] = list(profile.setup)
    if dependency:
        params["slurm_additional_parameters"] = {"dependency": dependency, "kill_on_invalid_dep": "yes"}
    return params


def make_executor(profile: Profile, folder, kind: str = "train", name: str = "repro",
                  dependency: Optional[str] = None, dry_run: bool = False, **overrides) -> submitit.AutoExecutor:
    """A slurm AutoExecutor for `profile`; `overrides` are extra update_parameters() keywords.

    dry_run builds it without a cluster (submitit refuses to when `srun` is missing), for
    printing the sbatch file only.
    """
    folder = Path(folder)
    params = {**executor_parameters(profile, kind, name, dependency), **overrides}
    patch = contextlib.nullcontext()
    if dry_run:
        from unittest import mock

        from submitit.slurm.slurm import SlurmExecutor
        patch = mock.patch.object(SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    try:
        with patch:
            # A row's K steps can span many time-limit windows; submitit's default allows 3 requeues.
            ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm", slurm_max_num_timeout=MAX_REQUEUES)
            ex.update_parameters(**params)
    except (ValueError, RuntimeError) as e:
        raise ReproError(f"{profile.path or profile.name}: submitit rejected the parameters: "
                         f"{str(e).splitlines()[0]}") from None
    return ex


def sbatch_text(executor: submitit.AutoExecutor, array_size: int = 1) -> str:
    """The sbatch file submitit would submit for this executor (an array of `array_size`)."""
    from submitit.slurm.slurm import _make_sbatch_string

    inner = executor._executor
    params = dict(inner.parameters)
    if array_size > 1:
        params["map_count"] = array_size
    return _make_sbatch_string(command=inner._submitit_command_str, folder=inner.folder, **params)


# ---------------------------------------------------------------------------------------------
# Inside the job


def setup_distributed() -> tuple[int, int, int]:
    """(rank, world, local_rank) from submitit's JobEnvironment; inits torch.distributed if world > 1.

    MASTER_ADDR is the job's first host, MASTER_PORT is derived from the job id (kept if already
    set), so every task of the job agrees without talking first. Backend: NCCL when CUDA is
    available (and the device is set to local_rank), else gloo. Idempotent. Outside a submitit
    job it returns (0, 1, 0) and initialises nothing.
    """
    import torch
    import torch.distributed as dist

    if "SUBMITIT_EXECUTOR" not in os.environ:  # not in a submitit job: one process (tests, local runs)
        return 0, 1, 0
    env = submitit.JobEnvironment()
    rank, world, local = env.global_rank, env.num_tasks, env.local_rank
    if world == 1 or dist.is_initialized():
        return rank, world, local
    digits = re.sub(r"\D", "", str(env.job_id)) or "0"
    os.environ.setdefault("MASTER_ADDR", env.hostnames[0])
    os.environ.setdefault("MASTER_PORT", str(20000 + int(digits) % 20000))
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return rank, world, local


def limit_threads() -> int:
    """torch intra-op threads for a job (launch/threads.py: the job's CPUs, SLURM_CPUS_PER_TASK at most).

    Without CPU binding (TaskPlugin=task/none, as on the test cluster) torch would start one
    thread per core of the node in every task, so 2 tasks x N threads oversubscribe the CPUs the
    job was given (measured: 12x slower on a loaded 2-core node). A job unpickles this module
    without torch, so the first call still reaches the environment (thread count, wait policy)
    before torch loads. Call it in the thread that runs torch too: OpenMP's thread count is per
    calling thread. A user's OMP_NUM_THREADS is kept; outside SLURM, a count set in a process
    that had already imported torch is kept too.
    """
    from repro.launch.threads import choose_threads, configure_threads

    fresh = configure_threads() is not None
    import torch

    n = choose_threads()
    if (fresh or "SLURM_CPUS_PER_TASK" in os.environ) and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def train_one(row_id: str, overrides, run_root, max_steps, smoke) -> str:
    """The default training function of TrainJob: the lead's loop, resuming by itself."""
    from repro.launch.in_training import metric_callback
    from repro.rows import load_row
    from repro.train import train_row
    from repro.train.loop import resolve_device

    row = load_row(row_id, overrides=tuple(overrides), smoke=smoke)
    run_dir = Path(run_root) / row.training_key
    on_eval = metric_callback(row, run_dir, device=resolve_device(row.runtime.device))
    return str(train_row(row, run_dir, max_steps=max_steps, progress=False, on_eval=on_eval))


class TrainJob(submitit.helpers.Checkpointable):
    """Trains one row (by id) into RUN_ROOT/<training key>/, requeued on preemption/time limit.

    train_fn(row_id, overrides, run_root, max_steps, smoke) -> result; default `train_one`.
    hooks: module name holding request_checkpoint / wait_checkpoint_saved (the protocol above).
    """

    def __init__(self, train_fn: Optional[Callable] = None, hooks: str = "repro.train",
                 checkpoint_wait_s: float = 60.0):
        self.train_fn = train_fn
        self.hooks = hooks
        self.checkpoint_wait_s = float(checkpoint_wait_s)

    def __call__(self, row_id: str, overrides=(), run_root=None, max_steps: Optional[int] = None,
                 smoke: bool = False):
        run_root = run_root or runs_root()
        limit_threads()
        setup_distributed()
        fn = self.train_fn or train_one
        box: dict = {}

        def work():
            try:
                limit_threads()
                box["result"] = fn(row_id, tuple(overrides), str(run_root), max_steps, smoke)
            except BaseException as e:  # handed to the main thread below
                box["error"] = e

        # Daemon: if submitit exits the process after a requeue, nothing waits for this thread.
        t = threading.Thread(target=work, name="repro-train", daemon=True)
        t.start()
        while t.is_alive():
            t.join(0.5)  # short joins: the main thread must stay free for the USR2 handler
        if "error" in box:
            err = box["error"]
            raise err
        return box["result"]

    def _hooks(self):
        import importlib

        try:
            mod = importlib.import_module(self.hooks)
        except ImportError:
            return None, None
        return getattr(mod, "request_checkpoint", None), getattr(mod, "wait_checkpoint_saved", None)

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """USR2 handler (rank 0, main thread): ask the loop to save, wait, requeue the same call."""
        request, wait = self._hooks()
        if request is not None:
            t0 = time.monotonic()
            request()
            saved = wait(self.checkpoint_wait_s) if wait is not None else False
            print(f"repro.launch: checkpoint on signal {'saved' if saved else 'NOT saved (timeout)'} "
                  f"after {time.monotonic() - t0:.1f} s", flush=True)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def eval_rows(row_ids, overrides, run_root, smoke, num) -> list[dict]:
    """The default evaluation function of EvalJob: sample, score, record (as `repro run` does)."""
    from repro.results.evaluate import evaluate_and_record
    from repro.rows import load_row

    out = []
    for row_id in row_ids:
        row = load_row(row_id, overrides=tuple(overrides), smoke=smoke)
        res = evaluate_and_record(row, Path(run_root) / row.training_key, num=num, progress=False)
        out.append({"row": row.id, "metrics": res["metrics"], "record": str(res["record_path"])})
        print(f"{row.id}: {res['metrics']} -> {res['record_path']}", flush=True)
    return out


class EvalJob:
    """Evaluates rows (ids) from their training key's run dir; eval_fn injectable for tests."""

    def __init__(self, eval_fn: Optional[Callable] = None):
        self.eval_fn = eval_fn

    def __call__(self, row_ids, overrides=(), run_root=None, smoke: bool = False, num: Optional[int] = None):
        limit_threads()
        return (self.eval_fn or eval_rows)(list(row_ids), tuple(overrides), str(run_root or runs_root()), smoke, num)


# ---------------------------------------------------------------------------------------------
# Planning and submission


@dataclass
class PlannedJob:
    kind: str                        # 'train' | 'eval'
    training_key: str
    rows: list                       # row ids this job serves
    args: tuple                      # the job's call arguments
    job_id: Optional[str] = None
    depends_on: Optional[str] = None  # the train PlannedJob's job id (eval jobs)
    extra: dict = field(default_factory=dict)


def plan_jobs(rows, run_root, overrides=(), smoke=False, max_steps=None, num=None) -> list[PlannedJob]:
    """Rows (repro.specs.Row) → train jobs (one per training key) followed by their eval jobs."""
    trains, evals = [], []
    for key, members in group_by_training_key(rows).items():
        ids = [r.id for r in members]
        trains.append(PlannedJob("train", key, ids, (ids[0], tuple(overrides), str(run_root), max_steps, smoke)))
        evals.append(PlannedJob("eval", key, ids, (ids, tuple(overrides), str(run_root), smoke, num)))
    return trains + evals


def submit_planned(plan: list[PlannedJob], profile: Profile, run_root, dry_run: bool = False,
                   train_fn: Optional[Callable] = None, eval_fn: Optional[Callable] = None,
                   hooks: str = "repro.train", evaluate: bool = True, log=print) -> list[PlannedJob]:
    """Submit the plan (trainings as one array, then each evaluation after its training).

    dry_run prints what would be submitted (keys, rows, resources, sbatch files) and submits nothing.
    """
    folder = slurm_folder(run_root)
    trains = [p for p in plan if p.kind == "train"]
    evals = [p for p in plan if p.kind == "eval"] if evaluate else []
    if not dry_run:
        check_slurm()
    job = TrainJob(train_fn, hooks=hooks, checkpoint_wait_s=profile.checkpoint_wait_s)
    ex = make_executor(profile, folder, "train", name="repro-train", dry_run=dry_run)
    if dry_run:
        _print_plan(trains, evals, profile, ex, folder, log)
        return plan
    with _submission_errors():
        with ex.batch():
            handles = [ex.submit(job, *p.args) for p in trains]
    for p, h in zip(trains, handles):
        p.job_id = h.job_id
        record_job(run_root, p, h, profile)
    by_key = {p.training_key: p for p in trains}
    for p in evals:
        p.depends_on = by_key[p.training_key].job_id
        eex = make_executor(profile, folder, "eval", name="repro-eval", dependency=f"afterok:{p.depends_on}")
        with _submission_errors():
            h = eex.submit(EvalJob(eval_fn), *p.args)
        p.job_id = h.job_id
        record_job(run_root, p, h, profile)
    for p in trains + evals:
        after = f" after {p.depends_on}" if p.depends_on else ""
        log(f"{p.kind:5s} job {p.job_id}{after}: key {p.training_key} rows {', '.join(p.rows)}")
    return plan


@contextlib.contextmanager
def _submission_errors():
    try:
        yield
    except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError, OSError) as e:
        raise ReproError(f"sbatch failed: {' '.join(str(e).split())[:300]}") from None


def _print_plan(trains, evals, profile, ex, folder, log) -> None:
    log(f"profile {profile.name} ({profile.path}); submitit folder {folder}")
    log(f"{len(trains)} training job(s) as {'one array' if len(trains) > 1 else 'one job'}: "
        f"{profile.nodes} node(s) x {profile.tasks_per_node} task(s), {profile.gpus_per_node} GPU(s)/node, "
        f"{profile.cpus_per_task} CPU(s)/task, {profile.mem_gb or 'default'} GB/node, {profile.time_min} min")
    for i, p in enumerate(trains):
        log(f"  train[{i}] key {p.training_key}: trains {p.rows[0]} for rows {', '.join(p.rows)}")
    for p in evals:
        log(f"  eval  key {p.training_key}: rows {', '.join(p.rows)}; dependency afterok:<train job of "
            f"{p.training_key}> (1 task, {min(1, profile.gpus_per_node)} GPU)")
    log("--- sbatch file of the training array ---")
    log(sbatch_text(ex, array_size=len(trains)).rstrip())
    if evals:
        eex = make_executor(profile, folder, "eval", name="repro-eval", dependency="afterok:<train job>", dry_run=True)
        log("--- sbatch file of an evaluation job ---")
        log(sbatch_text(eex).rstrip())
