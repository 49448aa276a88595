"""Inside a SLURM job: its place in the job (rank, world, local rank; torch.distributed set up
from submitit's JobEnvironment), its torch thread count, the record of each start of a
training job (`RUN_ROOT/<key>/slurm_runs.jsonl`) that the evaluation puts into the record's
`slurm` field, and the hand-over of the preemption signal that jobstart held back. Imports no
torch at module level: a job unpickles this before it sets its threads.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Optional

import submitit

RUNS_FILE = "slurm_runs.jsonl"


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
