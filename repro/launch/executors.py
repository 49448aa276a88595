"""The submitit executors of the SLURM jobs: their sbatch parameters from a cluster profile
(`executor_parameters`: the training's N GPUs x M nodes, or the evaluation's `eval_*` share of
one node), the interpreter the job starts with (`job_interpreter`: the preemption signal held
back, see repro/launch/jobstart.py), and the sbatch file they would submit (`sbatch_text`).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import submitit

from repro.io import ReproError
from repro.launch.profiles import Profile

MAX_REQUEUES = 100  # time-limit requeues per job before submitit gives up


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
