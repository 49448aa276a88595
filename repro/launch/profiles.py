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
from repro.paths import profiles_dir


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
# Far above any real cluster, low enough that a typo (1e20 nodes) is caught before sbatch.
_MAX = {"nodes": 10_000, "gpus_per_node": 64, "cpus_per_task": 4096, "time_min": 525_600,
        "signal_delay_s": 3600, "array_parallelism": 100_000, "mem_gb": 1_000_000,
        "checkpoint_wait_s": 3600}
_CONTROL = {chr(c) for c in range(32) if chr(c) != "\t"} | {"\x7f"}
_INT = ("nodes", "gpus_per_node", "cpus_per_task", "time_min", "signal_delay_s", "array_parallelism")


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or os.sep in str(name_or_path):
        if not p.is_file():
            raise ReproError(f"{p}: no such profile file")
        return p
    p = profiles_dir() / f"{name_or_path}.toml"
    if not p.is_file():
        import difflib

        known = profile_names()
        near = difflib.get_close_matches(name_or_path, known, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ReproError(f"{p}: no profile '{name_or_path}'; {hint}known: {', '.join(known) or 'none'} "
                         f"(or pass a path to a .toml file)")
    return p


def load_profile(name_or_path: str = "local") -> Profile:
    """Read a profile by name (slurm/profiles/<name>.toml) or path into a `Profile`."""
    path = _resolve(str(name_or_path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ReproError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ReproError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    known = ", ".join(_FIELDS)
    values = {}
    for key, value in data.items():
        if key not in _FIELDS:
            raise ReproError(f"{path}: unknown field '{key}'; known fields: {known}")
        if key in _INT:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ReproError(f"{path}: field '{key}' must be a non-negative integer, got {value!r}")
            if value > _MAX[key]:
                raise ReproError(f"{path}: field '{key}' = {value} is out of range (at most {_MAX[key]})")
        elif key in ("mem_gb", "checkpoint_wait_s"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX[key]:
                raise ReproError(f"{path}: field '{key}' must be a positive number up to {_MAX[key]}, "
                                 f"got {value!r}")
        elif key == "setup":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ReproError(f"{path}: field 'setup' must be a list of shell lines (strings)")
            value = tuple(value)
        elif not isinstance(value, str):
            raise ReproError(f"{path}: field '{key}' must be a string, got {value!r}")
        for text in (value if isinstance(value, tuple) else (value,)):
            bad = next((ch for ch in text if ch in _CONTROL), None) if isinstance(text, str) else None
            if bad is not None:
                # each value becomes one line of the sbatch script: a newline would add directives
                raise ReproError(f"{path}: field '{key}' holds a control character {bad!r}; "
                                 f"one line per value, no newlines")
        values[key] = value
    for key in ("nodes", "cpus_per_task", "time_min", "array_parallelism"):
        if key in values and values[key] == 0:
            raise ReproError(f"{path}: field '{key}' must be at least 1")
    prof = Profile(name=path.stem, path=str(path), **values)
    if prof.checkpoint_wait_s >= prof.signal_delay_s:
        raise ReproError(f"{path}: checkpoint_wait_s={prof.checkpoint_wait_s} must be below "
                         f"signal_delay_s={prof.signal_delay_s} (the save must finish before the limit)")
    return prof
