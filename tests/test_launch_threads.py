"""Thread choice (repro/launch/threads.py): affinity, SLURM_CPUS_PER_TASK, and a user's OMP_NUM_THREADS."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from repro.launch import jobenv, threads


@pytest.fixture
def cpus(monkeypatch):
    """Pretend this process may run on `n` CPUs."""
    def set_(n):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    return set_


@pytest.fixture
def no_torch(monkeypatch):
    # configure_threads does nothing once torch is loaded; hide it for the duration of the call
    # (the function under test imports nothing).
    monkeypatch.delitem(sys.modules, "torch", raising=False)


@pytest.mark.parametrize("affinity, env, want", [
    (8, {}, 8),
    (3, {}, 3),                                        # a cpuset/taskset smaller than the machine
    (8, {"SLURM_CPUS_PER_TASK": "2"}, 2),              # SLURM without binding: every core visible
    (4, {"SLURM_CPUS_PER_TASK": "16"}, 4),             # the mask is the harder limit
    (8, {"SLURM_CPUS_PER_TASK": "junk"}, 8),
    (8, {"OMP_NUM_THREADS": "5"}, 5),                  # the user's choice wins over affinity...
    (2, {"OMP_NUM_THREADS": "5", "SLURM_CPUS_PER_TASK": "1"}, 5),   # ...and over SLURM
    (8, {"OMP_NUM_THREADS": "3,2"}, 3),                # nesting list: first level
    (8, {"OMP_NUM_THREADS": "0"}, 8),                  # not a usable count: chosen as if unset
])
def test_choose_threads(cpus, affinity, env, want):
    cpus(affinity)
    assert threads.choose_threads(dict(env)) == want


def test_configure_sets_count_and_wait_policy(cpus, no_torch):
    cpus(6)
    env = {}
    assert threads.configure_threads(env) == 6
    assert env["OMP_NUM_THREADS"] == "6" and env["GOMP_SPINCOUNT"] == "20000"


def test_configure_keeps_users_values(cpus, no_torch):
    cpus(6)
    env = {"OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "300000"}
    assert threads.configure_threads(env) == 1
    assert env["OMP_NUM_THREADS"] == "1" and env["GOMP_SPINCOUNT"] == "300000"


def test_inherited_choice_is_made_again(cpus, no_torch):
    """`repro submit` on an 8-CPU login node exports its choice to a job with 2 CPUs per task."""
    cpus(8)
    login = {}
    threads.configure_threads(login)
    job = dict(login, SLURM_CPUS_PER_TASK="2")
    assert threads.configure_threads(job) == 2 and job["OMP_NUM_THREADS"] == "2"
    # A value the user changed after inheriting the mark is theirs.
    job = dict(login, SLURM_CPUS_PER_TASK="2", OMP_NUM_THREADS="4")
    assert threads.configure_threads(job) == 4 and job["OMP_NUM_THREADS"] == "4"


def test_configure_leaves_everything_once_torch_is_loaded(cpus):
    cpus(6)
    env = {}
    assert threads.configure_threads(env) is None
    assert env == {}


@pytest.mark.parametrize("env, want", [({"SLURM_CPUS_PER_TASK": "1"}, 1),
                                       ({"SLURM_CPUS_PER_TASK": "2", "OMP_NUM_THREADS": "1"}, 1)])
def test_limit_threads_in_a_slurm_job(monkeypatch, cpus, env, want):
    cpus(2)
    for name in ("OMP_NUM_THREADS", threads.MARK):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert jobenv.limit_threads() == want
    finally:
        torch.set_num_threads(old)


def test_cli_configures_before_torch_loads():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", threads.MARK)}
    code = ("import os, sys\nfrom repro.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_NUM_THREADS'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["20000", str(threads.usable_cpus(env)), "False"]
