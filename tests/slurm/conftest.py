"""The `slurm_cluster` fixture: a real one-node SLURM (slurm/cluster.sh) for the whole session.

They run whenever a -m expression selects them (`-m slurm`; CI's `-m "not gpu"`): a machine that
cannot run SLURM makes the fixture FAIL with the reason. A bare `pytest` (no -m) skips them, since
they start daemons (~10-20 s). Ports: cluster.sh's default 6817-6820, else another free block
(REPRO_SLURM_PORT_BASE), so two test sessions on one machine do not collide.
Jobs find the test helpers (jobfns.py) through PYTHONPATH, which sbatch passes on.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLUSTER_SH = REPO / "slurm" / "cluster.sh"
NEEDED = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacctmgr")


@dataclass
class SlurmCluster:
    state_dir: Path
    env_file: Path
    slurm_conf: Path
    folder: Path           # fresh submitit folder for this cluster's lifetime (job ids restart)
    up_s: float


def pytest_collection_modifyitems(config, items):
    # Any -m expression that selects them runs them: `-m slurm`, and CI's `-m "not gpu"`
    # (README); `-m "not slurm"` deselects them. Only a bare `pytest` (no -m) skips them.
    if (config.option.markexpr or "").strip():
        return
    skip = pytest.mark.skip(reason="starts a real SLURM cluster: run with -m slurm (CI: -m 'not gpu')")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


def _cannot_run() -> str:
    if not sys.platform.startswith("linux"):
        return f"needs Linux, this is {sys.platform}"
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if missing and os.geteuid() != 0:
        return f"missing {' '.join(missing)} and not root (cluster.sh installs the Debian packages as root)"
    if missing and shutil.which("apt-get") is None:
        return f"missing {' '.join(missing)} and no apt-get to install them"
    return ""


def _ports_free(base: int) -> bool:
    for port in range(base, base + 4):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _port_bases():
    """cluster.sh's default base first, then others: a second test session (or a cluster someone
    started by hand) on this machine must not make this one fail."""
    env = os.environ.get("REPRO_SLURM_PORT_BASE")
    if env:
        yield int(env)
        return
    yield 6817
    for k in random.sample(range(100), 20):
        yield 16817 + 10 * k


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = _cannot_run()
    if reason:
        pytest.fail(f"-m slurm selected but this machine cannot run SLURM: {reason}", pytrace=False)
    # Short path under /tmp: the munge and MariaDB unix sockets live in it (108-byte limit).
    state = Path(tempfile.mkdtemp(prefix="repro-slurm-", dir="/tmp"))
    t0 = time.perf_counter()
    env = dict(os.environ)
    for base in _port_bases():
        if not _ports_free(base):
            continue
        env["REPRO_SLURM_PORT_BASE"] = str(base)
        p = subprocess.run(["bash", str(CLUSTER_SH), "up", str(state)], capture_output=True, text=True,
                           timeout=900, env=env)
        if p.returncode == 0 or "is in use" not in p.stderr:
            break  # up, or failed for another reason than a port taken since we looked
    else:
        pytest.fail("no free ports for the test cluster (tried 6817 and 20 other bases)", pytrace=False)
    up_s = time.perf_counter() - t0
    if p.returncode != 0:
        subprocess.run(["bash", str(CLUSTER_SH), "down", str(state)], capture_output=True, timeout=120)
        pytest.fail(f"slurm/cluster.sh up failed (rc {p.returncode}): {p.stderr.strip()[-2000:]}", pytrace=False)
    saved = {k: os.environ.get(k) for k in ("SLURM_CONF", "PYTHONPATH")}
    conf = state / "etc" / "slurm.conf"
    os.environ["SLURM_CONF"] = str(conf)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    print(f"\nslurm cluster up in {up_s:.1f} s at {state} (ports from {env['REPRO_SLURM_PORT_BASE']})",
          file=sys.stderr)
    try:
        yield SlurmCluster(state, state / "env.sh", conf, state / "submitit", up_s)
    finally:
        t1 = time.perf_counter()
        d = subprocess.run(["bash", str(CLUSTER_SH), "down", str(state)], capture_output=True, text=True, timeout=300)
        print(f"\nslurm cluster down in {time.perf_counter() - t1:.1f} s (rc {d.returncode})", file=sys.stderr)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def run_root(slurm_cluster):
    """A fresh RUN_ROOT per test; its slurm/ folder holds the submitit files and jobs.jsonl."""
    return Path(tempfile.mkdtemp(prefix="runs-", dir=slurm_cluster.state_dir))
