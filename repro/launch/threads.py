"""CPU thread settings for torch, chosen before torch is first imported.

OpenMP reads its settings once, when the runtime loads (at `import torch`), so they have to be in
the environment before that; this module therefore imports nothing heavy. Two choices:

- Thread count: the CPUs this process may run on (its affinity mask: a cpuset, `taskset` or a
  SLURM binding), capped by SLURM_CPUS_PER_TASK because a SLURM job without CPU binding still
  sees every core of the node.
- A short spin before sleeping (GOMP_SPINCOUNT=20000, libgomp's default is 300,000): on a
  machine where other processes compete for the cores, an OpenMP thread that spins long at a
  barrier burns the time slice its descheduled partner needs to reach that barrier, and the
  default job, whose small ops are one parallel region each, crawls. Never spinning
  (OMP_WAIT_POLICY=PASSIVE) survives load too, but pays a wake-up per region: 1.7x slower on a
  quiet machine. The short spin keeps the quiet speed (measured: benchmarks/load.py,
  BENCHMARKS.md "Under load"). torch's Linux wheels use GNU libgomp, which reads GOMP_SPINCOUNT.

A user's own value for any of these variables wins; so does a torch thread count set in-process,
because nothing here runs once torch has been imported. The values repro set itself are listed in
REPRO_THREADS_SET, so that a process that inherits them (a SLURM job submitted by `repro submit`
with sbatch's default --export=ALL) chooses again for its own CPUs instead of taking them for the
user's.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping, Optional

WAIT_SETTINGS = {"GOMP_SPINCOUNT": "20000"}
MARK = "REPRO_THREADS_SET"


def _positive_int(text) -> Optional[int]:
    # OMP_NUM_THREADS may be a nesting list ("4,2"); the first level is the intra-op count.
    head = str(text or "").split(",")[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else None


def _set_by_repro(env) -> dict:
    pairs = (item.partition("=") for item in env.get(MARK, "").split(";") if item)
    return {k: v for k, _, v in pairs}


def user_value(name: str, environ: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """The variable's value if the user set it; None if unset or holding the value repro put there."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    return None if value is None or _set_by_repro(env).get(name) == value else value


def usable_cpus(environ: Optional[MutableMapping[str, str]] = None) -> int:
    """CPUs this process may use: its affinity mask, capped by SLURM_CPUS_PER_TASK when set."""
    env = os.environ if environ is None else environ
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity call on this platform
        n = os.cpu_count() or 1
    slurm = _positive_int(env.get("SLURM_CPUS_PER_TASK"))
    if slurm is not None:
        n = min(n, slurm)
    return max(n, 1)


def choose_threads(environ: Optional[MutableMapping[str, str]] = None) -> int:
    """The intra-op thread count: the user's OMP_NUM_THREADS if valid, else `usable_cpus`."""
    env = os.environ if environ is None else environ
    user = _positive_int(user_value("OMP_NUM_THREADS", env))
    return user if user is not None else usable_cpus(env)


def configure_threads(environ: Optional[MutableMapping[str, str]] = None) -> Optional[int]:
    """Put the thread count and wait policy into `environ` (default os.environ) where the user did not.

    Returns the thread count, or None when torch is already imported in this process: its OpenMP
    runtime has read its settings, and whoever imported it owns the choice (the variables would
    then only leak into child processes).
    """
    if "torch" in sys.modules:
        return None
    env = os.environ if environ is None else environ
    n = choose_threads(env)
    ours = {}
    for name, value in {"OMP_NUM_THREADS": str(n), **WAIT_SETTINGS}.items():
        if user_value(name, env) is None:
            env[name] = ours[name] = value
    env[MARK] = ";".join(f"{k}={v}" for k, v in ours.items())
    return n
