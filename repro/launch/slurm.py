"""Run rows on SLURM through submitit: one training job per training key, then its evaluations.

Jobs
----
`plan_jobs(rows, run_root, ...)` groups rows by `Row.training_key`. Each key gets ONE `TrainJob`
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
GPU. `setup_distributed()` reads rank / world / master from `submitit.JobEnvironment()` and
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
`RUN_ROOT/<key>/slurm_runs.jsonl`; the evaluation puts those (and its own) into the record's
`slurm` field.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import submitit

from repro.io import ReproError
from repro.launch import joblog
from repro.launch.joblog import check_slurm, record_job, slurm_folder
from repro.launch.jobstart import pause_for_test, preemption_signal
from repro.launch.profiles import Profile
from repro.paths import runs_root
from repro.rows.group import group_by_training_key

MAX_REQUEUES = 100  # time-limit requeues per job before submitit gives up
RUNS_FILE = "slurm_runs.jsonl"


# ---------------------------------------------------------------------------------------------
# Executors


def executor_parameters(profile: Profile, kind: str = "train", name: str = "repro",
                        dependency: Optional[str] = None, hold: bool = False) -> dict:
    """AutoExecutor.update_parameters() keywords for a job of `kind` ('train' or 'eval')."""
    if kind == "train":
        params = dict(name=name, timeout_min=profile.time_min, nodes=profile.nodes,
                      tasks_per_node=profile.tasks_per_node, cpus_per_task=profile.cpus_per_task)
        gpus, mem = profile.gpus_per_node, profile.mem_gb
        extra = dict(profile.additional_parameters)
    else:
        params = dict(name=name, timeout_min=profile.eval_time_min, nodes=1, tasks_per_node=1,
                      cpus_per_task=profile.eval_cpus_per_task)
        gpus, mem = profile.eval_gpus, profile.eval_mem_gb
        extra = {**dict(profile.additional_parameters), **dict(profile.eval_additional_parameters)}
    params.update(slurm_signal_delay_s=profile.signal_delay_s,
                  slurm_array_parallelism=profile.array_parallelism)
    if gpus:
        params["gpus_per_node"] = gpus
    if mem:
        params["mem_gb"] = mem
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(profile, key):
            params[f"slurm_{key}"] = getattr(profile, key)
    if profile.setup:
        params["slurm_setup"] = list(profile.setup)
    if dependency:
        extra.update(dependency=dependency, kill_on_invalid_dep="yes")
    if hold:
        extra["hold"] = True
    if extra:
        params["slurm_additional_parameters"] = extra
    return params


def job_interpreter(profile: Profile) -> str:
    """The command submitit starts each task with (it appends `-u -m submitit.core._submit DIR`).

    `sh` ignores the preemption signal before Python exists, jobstart blocks it (see
    repro/launch/jobstart.py); the interpreter is the profile's `python` (a command run after
    its `setup` lines, e.g. the venv's `python`), else the submitter's own.
    """
    py = shlex.join(shlex.split(profile.python)) if profile.python else shlex.quote(sys.executable)
    sig = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    script = f'trap "" {sig}; exec "$@"'
    return f"/bin/sh -c {shlex.quote(script)} repro-job {py} -u -m repro.launch.jobstart"


def make_executor(profile: Profile, folder, kind: str = "train", name: str = "repro",
                  dependency: Optional[str] = None, dry_run: bool = False, hold: bool = False,
                  **overrides) -> submitit.AutoExecutor:
    """A slurm AutoExecutor for `profile`; `overrides` are extra update_parameters() keywords.

    dry_run builds it without a cluster (submitit refuses to when `srun` is missing), for
    printing the sbatch file only.
    """
    folder = Path(folder)
    params = {**executor_parameters(profile, kind, name, dependency, hold), **overrides}
    patch = contextlib.nullcontext()
    if dry_run:
        from unittest import mock

        from submitit.slurm.slurm import SlurmExecutor
        patch = mock.patch.object(SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    try:
        with patch:
            # A row's K steps can span many time-limit windows; submitit's default allows 3 requeues.
            ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm", slurm_max_num_timeout=MAX_REQUEUES,
                                       slurm_python=job_interpreter(profile))
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


def in_submitit_job() -> bool:
    return "SUBMITIT_EXECUTOR" in os.environ


def _job_id() -> str:
    return str(submitit.JobEnvironment().job_id)


def _nodes() -> list:
    try:
        return list(submitit.JobEnvironment().hostnames)
    except Exception:    # an odd node list: the raw text is still worth recording
        return [os.environ.get("SLURM_JOB_NODELIST", "")]


def note_training_run(run_dir) -> None:
    """Rank 0 of a training job: one line per start in <run dir>/slurm_runs.jsonl (for records)."""
    if not in_submitit_job() or int(os.environ.get("SLURM_PROCID") or 0) != 0:
        return
    from repro.io import append_text

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    line = {"job_id": _job_id(), "restart": int(os.environ.get("SLURM_RESTART_COUNT") or 0),
            "nodes": _nodes(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    append_text(Path(run_dir) / RUNS_FILE, json.dumps(line) + "\n")


def slurm_record(run_dir) -> Optional[dict]:
    """The `slurm` field of a record written by an evaluation job: its own job id, requeues and
    nodes, and those of the training job(s) that wrote the run dir; None outside SLURM."""
    if not in_submitit_job():
        return None
    runs = []
    with contextlib.suppress(OSError):
        for line in (Path(run_dir) / RUNS_FILE).read_text().splitlines():
            with contextlib.suppress(ValueError):
                runs.append(json.loads(line))
    ids = list(dict.fromkeys(str(r.get("job_id")) for r in runs))
    restarts = {i: max(int(r.get("restart") or 0) for r in runs if str(r.get("job_id")) == i) for i in ids}
    train = {"job_ids": ids, "requeues": sum(restarts.values()),
             "nodes": sorted({n for r in runs for n in (r.get("nodes") or [])})}
    own = {"job_id": _job_id(), "requeues": int(os.environ.get("SLURM_RESTART_COUNT") or 0), "nodes": _nodes()}
    return {"train": train, "eval": own}


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


def _take_signal(sig, handler):
    """Main thread: install `handler` for `sig` and let the signal in (jobstart held it back).
    Returns the handler it replaced (submitit's, in a job), or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.signal(sig, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    return previous


def _leave_signal(sig, previous) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    # In a job the work is done (or handed to the requeue): a late signal must not turn a
    # finished job into a FAILED one, so it is ignored from here on.
    signal.signal(sig, signal.SIG_IGN if in_submitit_job() else (previous or signal.SIG_DFL))


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


# ---------------------------------------------------------------------------------------------
# Planning and submission


@dataclass
class PlannedJob:
    kind: str                        # 'train' | 'eval'
    training_key: str
    rows: list                       # row ids this job serves
    args: tuple                      # the job's call arguments
    job_id: Optional[str] = None
    depends_on: Optional[str] = None  # the training's job id (eval jobs)
    extra: dict = field(default_factory=dict)   # row_objs (Row objects), target_steps, num


def plan_jobs(rows, run_root, overrides=(), smoke=False, max_steps=None, num=None) -> list[PlannedJob]:
    """Rows (repro.specs.Row) → train jobs (one per training key) followed by their eval jobs."""
    from repro.launch.preflight import target_steps

    trains, evals = [], []
    for key, members in group_by_training_key(rows).items():
        ids = [r.id for r in members]
        extra = {"row_objs": list(members), "target_steps": target_steps(members[0], max_steps), "num": num}
        trains.append(PlannedJob("train", key, ids, (ids[0], tuple(overrides), str(run_root), max_steps, smoke),
                                 extra=dict(extra)))
        evals.append(PlannedJob("eval", key, ids, (ids, tuple(overrides), str(run_root), smoke, num),
                                extra=dict(extra)))
    return trains + evals


def settle_plan(plan: list[PlannedJob], run_root, states, force: bool = False, log=print,
                tables=None) -> list[PlannedJob]:
    """The part of `plan` still to submit, given the job log's `states` and the run dirs; one
    line per key or row left out, saying why (module docstring)."""
    from repro.launch.preflight import current_record, final_checkpoint

    live_train, live_eval = {}, {}
    for s in states:
        if joblog.is_live(s["state"]):
            if s["kind"] == "train":
                live_train[s["training_key"]] = s
            else:
                live_eval.update({(s["training_key"], r): s for r in s["rows"]})
    out, trained, running = [], {}, {}
    for p in (p for p in plan if p.kind == "train"):
        key, target = p.training_key, p.extra.get("target_steps")
        if key in live_train:
            s = live_train[key]
            running[key] = s["job_id"]
            log(f"key {key}: training job {s['job_id']} is {s['state']}; not submitted again")
            continue
        ck = final_checkpoint(Path(run_root) / key, target) if target else None
        if ck is not None:
            trained[key] = ck
            if not force:
                log(f"key {key}: trained ({ck}); no training job (--force submits one anyway)")
                continue
        out.append(p)
    training_now = {p.training_key for p in out}
    commit = None
    for p in (p for p in plan if p.kind == "eval"):
        key = p.training_key
        by_id = {r.id: r for r in p.extra.get("row_objs") or []}
        keep = []
        for rid in p.rows:
            if (key, rid) in live_eval:
                s = live_eval[(key, rid)]
                log(f"row {rid}: evaluation job {s['job_id']} is {s['state']}; not submitted again")
                continue
            if key in trained and key not in training_now and rid in by_id and not force:
                if commit is None:
                    from repro.results.records import git_state

                    commit = git_state()["commit"] or ""
                rec = current_record(by_id[rid], Path(run_root) / key, p.extra.get("target_steps"), commit,
                                     p.extra.get("num"), tables)
                if rec is not None:
                    log(f"row {rid}: its record {rec} is current (commit {commit[:12]}, same protocol); "
                        f"not evaluated again (--force evaluates it anyway)")
                    continue
            keep.append(rid)
        if keep:
            out.append(PlannedJob("eval", key, keep, (keep, *p.args[1:]), depends_on=running.get(key),
                                  extra=dict(p.extra, row_objs=[by_id[r] for r in keep if r in by_id])))
    return out


def _known_states(run_root, log) -> list:
    """Job states for a dry run: none needed when nothing was submitted; said so when SLURM is away."""
    try:
        return joblog.job_states(run_root)
    except ReproError as e:
        log(f"(job states unknown, so live jobs are not taken into account: {e})")
        return []


def submit_rows(rows, profile: Profile, run_root, overrides=(), smoke=False, max_steps=None, num=None,
                dry_run: bool = False, force: bool = False, evaluate: bool = True, log=print) -> list[PlannedJob]:
    """`repro submit`: plan, leave out what is done or under way, check inputs, submit."""
    plan = plan_jobs(rows, run_root, overrides=overrides, smoke=smoke, max_steps=max_steps, num=num)
    if not evaluate:
        plan = [p for p in plan if p.kind == "train"]
    if dry_run:
        plan = settle_plan(plan, run_root, _known_states(run_root, log), force, log)
        return submit_planned(plan, profile, run_root, dry_run=True, evaluate=evaluate, log=log)
    check_slurm()
    with joblog.submit_lock(run_root):
        joblog.resume(run_root, log)
        plan = settle_plan(plan, run_root, joblog.job_states(run_root), force, log)
        if not plan:
            log("nothing to submit")
            return []
        return submit_planned(plan, profile, run_root, evaluate=evaluate, log=log)


def submit_planned(plan: list[PlannedJob], profile: Profile, run_root, dry_run: bool = False,
                   train_fn: Optional[Callable] = None, eval_fn: Optional[Callable] = None,
                   hooks: str = "repro.train", evaluate: bool = True, log=print) -> list[PlannedJob]:
    """Submit the plan (trainings as one array, then each evaluation after its training), held
    until all of it is queued; inputs are checked first (jobs carrying their rows).

    dry_run prints what would be submitted (keys, rows, resources, GPU-hours, sbatch files) and
    submits nothing.
    """
    from repro.launch.preflight import describe, missing_inputs

    folder = slurm_folder(run_root)
    trains = [p for p in plan if p.kind == "train"]
    evals = [p for p in plan if p.kind == "eval"] if evaluate else []
    missing = missing_inputs(trains + evals)
    if dry_run:
        _print_plan(trains, evals, profile, folder, log, missing)
        return plan
    if missing:
        raise ReproError(describe(missing))
    check_slurm()
    with joblog.submit_lock(run_root):
        joblog.resume(run_root, log)
        if trains:
            job = TrainJob(train_fn, hooks=hooks, checkpoint_wait_s=profile.checkpoint_wait_s)
            ex = make_executor(profile, folder, "train", name="repro-train", hold=True)
            _submit_held(ex, [submitit.helpers.DelayedSubmission(job, *p.args) for p in trains], trains,
                         "train", run_root, profile)
        by_key = {p.training_key: p for p in trains}
        for p in evals:
            if p.depends_on is None and p.training_key in by_key:
                p.depends_on = by_key[p.training_key].job_id
            eex = make_executor(profile, folder, "eval", name="repro-eval", hold=True,
                                dependency=f"afterok:{p.depends_on}" if p.depends_on else None)
            _submit_held(eex, [submitit.helpers.DelayedSubmission(EvalJob(eval_fn), *p.args)], [p], "eval",
                         run_root, profile)
        joblog.release_held(run_root, log)
    for p in trains + evals:
        after = f" after {p.depends_on}" if p.depends_on else ""
        log(f"{p.kind:5s} job {p.job_id}{after}: key {p.training_key} rows {', '.join(p.rows)}")
    return plan


def _submit_held(ex, delayeds, planned, kind: str, run_root, profile) -> list[str]:
    """One sbatch --hold (an array when several): intent line, pickles, sbatch, job lines."""
    from repro.io import atomic_write_text

    token = joblog.new_token()
    name = f"repro-{kind}-{token}"
    ex.update_parameters(name=name)
    inner = ex._executor
    folder = str(Path(inner.folder).resolve())
    n, tasks = len(delayeds), inner._num_tasks()
    joblog.record_intent(run_root, token, name, kind, folder,
                         [dict(training_key=p.training_key, rows=list(p.rows), depends_on=p.depends_on,
                               target_steps=p.extra.get("target_steps"), tasks=tasks) for p in planned],
                         profile, array=n > 1)
    for i, d in enumerate(delayeds):
        d.set_timeout(inner.parameters.get("time", 5), inner.max_num_timeout)
        path = joblog.pending_pickle(run_root, token, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        d.dump(path)
    script = joblog.script_path(run_root, token)
    atomic_write_text(script, sbatch_text(ex, array_size=n))
    try:
        p = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        # It may have been queued: the intent stays open, and the next `repro submit` finds it by name.
        raise ReproError(f"sbatch gave no answer in 300 s ({script}); run the same `repro submit` again: "
                         f"it records the job if SLURM queued it, and submits it otherwise") from None
    except OSError as e:
        p = subprocess.CompletedProcess([], 127, "", str(e))
    m = re.match(r"^(\d+)", p.stdout.strip())
    if p.returncode != 0 or m is None:
        joblog.record_event(run_root, "abandoned", token=token)
        for i in range(n):
            joblog.pending_pickle(run_root, token, i).unlink(missing_ok=True)
        msg = " ".join((p.stderr or p.stdout or f"exit status {p.returncode}").split())[:300]
        raise ReproError(f"sbatch failed: {msg}")
    ids = [f"{m.group(1)}_{i}" for i in range(n)] if n > 1 else [m.group(1)]
    for i, (pj, jid) in enumerate(zip(planned, ids)):
        joblog.place_pickle(run_root, token, i, folder, jid)
        pj.job_id = jid
        record_job(run_root, pj, job_id=jid, tasks=tasks, profile=profile, token=token, folder=folder)
    return ids


def _train_gpu_hours(p: PlannedJob) -> Optional[float]:
    from repro.rows.summary import gpu_hours

    rows = p.extra.get("row_objs")
    if not rows:
        return None
    row = rows[0]
    target = p.extra.get("target_steps") or row.total_steps
    return gpu_hours(row) * target / max(row.total_steps, 1)


def _print_plan(trains, evals, profile, folder, log, missing=()) -> None:
    from repro.launch.preflight import describe
    from repro.rows.summary import ASSUMPTION

    log(f"profile {profile.name} ({profile.path}); submitit folder {folder}")
    train_h = 0.0
    if trains:
        log(f"{len(trains)} training job(s) as {'one array' if len(trains) > 1 else 'one job'}: "
            f"{profile.nodes} node(s) x {profile.tasks_per_node} task(s), {profile.gpus_per_node} GPU(s)/node, "
            f"{profile.cpus_per_task} CPU(s)/task, {profile.mem_gb or 'default'} GB/node, {profile.time_min} min "
            f"per run (requeued at the limit until done)")
    for i, p in enumerate(trains):
        h = _train_gpu_hours(p)
        train_h += h or 0.0
        est = f"; est. {h:.1f} GPU-hours" if h is not None else ""
        log(f"  train[{i}] key {p.training_key}: trains {p.rows[0]} for rows {', '.join(p.rows)}{est}")
    eval_h = profile.eval_gpus * profile.eval_time_min / 60
    if evals:
        log(f"{len(evals)} evaluation job(s), each 1 node x 1 task: {profile.eval_gpus} GPU(s), "
            f"{profile.eval_cpus_per_task} CPU(s), {profile.eval_mem_gb or 'default'} GB, "
            f"{profile.eval_time_min} min")
    training_now = {p.training_key for p in trains}
    for p in evals:
        dep = p.depends_on or (f"<train job of {p.training_key}>" if p.training_key in training_now else None)
        log(f"  eval  key {p.training_key}: rows {', '.join(p.rows)}; "
            f"{'dependency afterok:' + dep if dep else 'no dependency (trained already)'}; "
            f"at most {eval_h:.1f} GPU-hours")
    log(f"GPU-hours: training est. {train_h:.1f}, evaluation at most {eval_h * len(evals):.1f} (GPUs x time "
        f"limit), total {train_h + eval_h * len(evals):.1f}\n  (training estimate as `repro list`: {ASSUMPTION})")
    if not trains and not evals:
        log("nothing to submit")
    if missing:
        log(f"NOT SUBMITTABLE: {describe(missing)}")
    if trains:
        ex = make_executor(profile, folder, "train", name="repro-train-<token>", hold=True, dry_run=True)
        log("--- sbatch file of the training array ---" if len(trains) > 1 else "--- sbatch file of the training job ---")
        log(sbatch_text(ex, array_size=len(trains)).rstrip())
    if evals:
        eex = make_executor(profile, folder, "eval", name="repro-eval-<token>", hold=True,
                            dependency="afterok:<train job>", dry_run=True)
        log("--- sbatch file of an evaluation job ---")
        log(sbatch_text(eex).rstrip())
