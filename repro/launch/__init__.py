"""Running rows: on this machine (local.py, what `repro run` does), on SLURM through submitit
(slurm.py, jobstart.py: the jobs' interpreter entry), the job log that `repro status` /
`repro cancel` read (joblog.py) and the jobs' states they ask SLURM for (jobstates.py), what
is checked before anything is queued (preflight.py), cluster profiles (profiles.py) and the CPU
thread choice made before torch loads (threads.py).

Imports nothing up front: the CLI reads threads.py before any command runs, and `repro status`
must not pay for submitit or torch. The job classes resolve on first use
(`from repro.launch import TrainJob`).
"""
from __future__ import annotations

import importlib

_EXPORTS = {"TrainJob": "slurm", "EvalJob": "slurm", "plan_jobs": "submission", "submit_rows": "submission",
            "load_profile": "profiles", "run_rows": "local"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
