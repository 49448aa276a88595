"""Cluster profiles: where and with what resources `repro submit` runs jobs.

A profile is a TOML file, `slurm/profiles/<name>.toml` or any path; its keys are the fields of
`Profile` (slurm/README.md documents them). Unknown keys are errors, not ignored, so a typo such
as `gpus_per_nodes` cannot silently submit a 1-GPU job.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from repro.io import ReproError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "slurm" / "profiles"


@dataclass(frozen=True)
class Profile:
    name: str = "local"
    partition: Optional[str] = None       # sbatch --partition (None: the cluster's default)
    account: Optional[str] = None         # sbatch --account
    qos: Optional[str] = None             # sbatch --qos
    nodes: int = 1
    gpus_per_node: int = 0                # also the number of tasks (DDP ranks) per node
    cpus_per_task: int = 1
    mem_gb: Optional[float] = None        # per node; None: the cluster's default
    time_min: int = 60                    # wall-clock limit; the job requeues itself at the limit
    constraint: Optional[str] = None      # sbatch --constraint
    setup: tuple = ()                     # shell lines run before the job (module loads, venv)
    signal_delay_s: int = 90              # USR2 this many seconds before the time limit
    checkpoint_wait_s: float = 60.0       # how long the USR2 handler waits for the loop to save
    array_parallelism: int = 32           # max array tasks running at once
    path: str = field(default="", compare=False)  # the file it came from

    @property
    def tasks_per_node(self) -> int:
        return max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node


_FIELDS = {f.name: f for f in dataclasses.fields(Profile) if f.name not in ("name", "path")}
_INT = ("nodes", "gpus_per_node", "cpus_per_task", "time_min", "signal_delay_s", "array_parallelism")


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or os.sep in str(name_or_path):
        if not p.is_file():
            raise ReproError(f"{p}: no such profile file")
        return p
    p = PROFILE_DIR / f"{name_or_path}.toml"
    if not p.is_file():
        raise ReproError(f"{p}: no profile '{name_or_path}'; known: {', '.join(profile_names()) or 'none'} "
                         f"(or pass a path to a .toml file)")
    return p


def load_profile(name_or_path: str = "local") -> Profile:
    """Read a profile by name (slurm/profiles/<name>.toml) or path into a `Profile`."""
    path = _resolve(str(name_or_path))
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ReproError(f"{path}: not valid TOML ({e})") from None
    known = ", ".join(_FIELDS)
    values = {}
    for key, value in data.items():
        if key not in _FIELDS:
            raise ReproError(f"{path}: unknown field '{key}'; known fields: {known}")
        if key in _INT:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ReproError(f"{path}: field '{key}' must be a non-negative integer, got {value!r}")
        elif key in ("mem_gb", "checkpoint_wait_s"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ReproError(f"{path}: field '{key}' must be a positive number, got {value!r}")
        elif key == "setup":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ReproError(f"{path}: field 'setup' must be a list of shell lines (strings)")
            value = tuple(value)
        elif not isinstance(value, str):
            raise ReproError(f"{path}: field '{key}' must be a string, got {value!r}")
        values[key] = value
    for key in ("nodes", "cpus_per_task", "time_min", "array_parallelism"):
        if key in values and values[key] == 0:
            raise ReproError(f"{path}: field '{key}' must be at least 1")
    prof = Profile(name=path.stem, path=str(path), **values)
    if prof.checkpoint_wait_s >= prof.signal_delay_s:
        raise ReproError(f"{path}: checkpoint_wait_s={prof.checkpoint_wait_s} must be below "
                         f"signal_delay_s={prof.signal_delay_s} (the save must finish before the limit)")
    return prof
