"""Cluster profiles: where and with what resources `repro submit` runs jobs.

A profile is a TOML file, `slurm/profiles/<name>.toml` or any path; its keys are the fields of
`Profile` (slurm/README.md documents them). Unknown keys are errors, not ignored, so a typo such
as `gpus_per_nodes` cannot silently submit a 1-GPU job. The names submitit, hydra's submitit
launcher and sbatch use for the same settings are accepted too (`timeout_min`, `slurm_partition`,
`ntasks_per_node`, `cpus-per-task`, ...: `ALIASES`), each mapped onto its field.

Evaluation jobs get their own resources (`eval_*`): one node, one task, by default one GPU (none
on a CPU profile) and the training's per-GPU share of its CPUs and memory, so an evaluation never
asks for a whole training node.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from repro.io import ReproError
from repro.paths import profiles_dir

# SLURM sends the time-limit signal up to this much earlier than asked (its limit check runs
# about every 30 s, the signal lands within a minute of the requested lead).
SIGNAL_JITTER_S = 60
# Work a job must be able to do before the earliest signal, or each window may be spent starting up.
MIN_WORK_S = 60
EVAL_TIME_MIN = 240      # default time limit of an evaluation job (50K samples + features: well under)


@dataclass(frozen=True)
class Profile:
    name: str = "local"
    partition: Optional[str] = None       # sbatch --partition (None: the cluster's default)
    account: Optional[str] = None         # sbatch --account
    qos: Optional[str] = None             # sbatch --qos
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: Optional[int] = None  # processes (DDP ranks) per node; None: gpus_per_node, or 1
    cpus_per_task: int = 1
    mem_gb: Optional[float] = None        # per node; None: the cluster's default
    time_min: int = 60                    # wall-clock limit; the job requeues itself at the limit
    constraint: Optional[str] = None      # sbatch --constraint
    setup: tuple = ()                     # shell lines run before the job (module loads, venv)
    python: Optional[str] = None          # the job's interpreter command; None: the submitter's
    signal_delay_s: int = 90              # USR2 this many seconds before the time limit
    checkpoint_wait_s: float = 60.0       # how long the USR2 handler waits for the loop to save
    array_parallelism: int = 32           # max array tasks running at once
    additional_parameters: tuple = ()     # (sbatch option, value) pairs for every job
    eval_gpus: Optional[int] = None       # evaluation job: GPUs (None: 1, or 0 on a CPU profile)
    eval_cpus_per_task: Optional[int] = None  # None: the training's CPUs per GPU x eval_gpus
    eval_mem_gb: Optional[float] = None   # None: the training's memory per GPU x eval_gpus
    eval_time_min: Optional[int] = None   # None: min(time_min, EVAL_TIME_MIN)
    eval_additional_parameters: tuple = ()  # (option, value) pairs for evaluation jobs only
    path: str = field(default="", compare=False)  # the file it came from

    def __post_init__(self):
        # Derived defaults, filled once so that every reader (executors, dry run) agrees.
        def put(key, value):
            object.__setattr__(self, key, value)

        if self.tasks_per_node is None:
            put("tasks_per_node", max(1, self.gpus_per_node))
        if self.eval_gpus is None:
            put("eval_gpus", min(1, self.gpus_per_node))
        if self.eval_cpus_per_task is None:
            node_cpus = self.cpus_per_task * self.tasks_per_node
            share = node_cpus / self.gpus_per_node * max(self.eval_gpus, 1) if self.gpus_per_node \
                else self.cpus_per_task
            put("eval_cpus_per_task", max(1, int(share)))
        if self.eval_mem_gb is None and self.mem_gb:
            per = self.mem_gb / (self.gpus_per_node or self.tasks_per_node)
            put("eval_mem_gb", round(per * max(self.eval_gpus, 1), 1))
        if self.eval_time_min is None:
            put("eval_time_min", min(self.time_min, EVAL_TIME_MIN))

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node

    @property
    def min_time_min(self) -> int:
        """The shortest time limit at which the time-limit signal cannot come before MIN_WORK_S."""
        return math.ceil((self.signal_delay_s + SIGNAL_JITTER_S + MIN_WORK_S) / 60)


_FIELDS = {f.name: f for f in dataclasses.fields(Profile) if f.name not in ("name", "path")}
# Far above any real cluster, low enough that a typo (1e20 nodes) is caught before sbatch.
_MAX = {"nodes": 10_000, "gpus_per_node": 64, "tasks_per_node": 4096, "cpus_per_task": 4096,
        "time_min": 525_600, "signal_delay_s": 3600, "array_parallelism": 100_000, "mem_gb": 1_000_000,
        "checkpoint_wait_s": 3600, "eval_gpus": 64, "eval_cpus_per_task": 4096, "eval_mem_gb": 1_000_000,
        "eval_time_min": 525_600}
_CONTROL = {chr(c) for c in range(32) if chr(c) != "\t"} | {"\x7f"}
_INT = ("nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "time_min", "signal_delay_s",
        "array_parallelism", "eval_gpus", "eval_cpus_per_task", "eval_time_min")
_POSITIVE = ("nodes", "tasks_per_node", "cpus_per_task", "time_min", "array_parallelism",
             "eval_cpus_per_task", "eval_time_min")
_FLOAT = ("mem_gb", "checkpoint_wait_s", "eval_mem_gb")
_TABLES = ("additional_parameters", "eval_additional_parameters")

# Other tools' names for the same settings (submitit, hydra's submitit launcher, sbatch).
ALIASES = {"timeout_min": "time_min", "time": "time_min", "ntasks_per_node": "tasks_per_node",
           "mem": "mem_gb", "slurm_setup": "setup", "slurm_signal_delay_s": "signal_delay_s",
           "slurm_array_parallelism": "array_parallelism",
           "slurm_additional_parameters": "additional_parameters", "slurm_partition": "partition",
           "slurm_account": "account", "slurm_qos": "qos", "slurm_constraint": "constraint",
           "slurm_time": "time_min", "slurm_mem": "mem_gb", "num_nodes": "nodes", "slurm_gpus_per_node": "gpus_per_node",
           "slurm_cpus_per_task": "cpus_per_task", "slurm_ntasks_per_node": "tasks_per_node"}
# sbatch options the launcher sets itself: an additional parameter may not replace them.
_LAUNCHER_OPTIONS = {"array", "output", "error", "open_mode", "signal", "dependency",
                     "kill_on_invalid_dep", "hold", "job_name", "parsable", "wrap"}
# sbatch options that have a profile field: set the field, so the dry run and checks see it.
_FIELD_OPTIONS = {"partition": "partition", "account": "account", "qos": "qos", "nodes": "nodes",
                  "ntasks_per_node": "tasks_per_node", "cpus_per_task": "cpus_per_task",
                  "gpus_per_node": "gpus_per_node", "mem": "mem_gb", "time": "time_min",
                  "constraint": "constraint"}
_OPTION_RE = re.compile(r"^[a-z][a-z0-9_]*$")


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


def _no_control(path, key, text) -> None:
    bad = next((ch for ch in text if ch in _CONTROL), None) if isinstance(text, str) else None
    if bad is not None:
        # each value becomes one line of the sbatch script: a newline would add directives
        raise ReproError(f"{path}: field '{key}' holds a control character {bad!r}; "
                         f"one line per value, no newlines")


def _options(path, key, value, mem_set: bool) -> tuple:
    """A TOML table of extra sbatch options -> sorted (option, value) pairs, checked."""
    if not isinstance(value, dict):
        raise ReproError(f"{path}: field '{key}' must be a table of sbatch options, e.g. "
                         f"{key} = {{ gres = \"gpu:a100:8\", exclude = \"node[01-02]\" }}")
    out = {}
    for opt, v in value.items():
        name = opt.replace("-", "_")
        if not _OPTION_RE.match(name):
            raise ReproError(f"{path}: {key}.{opt}: not an sbatch option name (letters, digits, '-', '_')")
        if name in _LAUNCHER_OPTIONS:
            raise ReproError(f"{path}: {key}.{opt}: repro sets --{name.replace('_', '-')} itself; remove it")
        if name in _FIELD_OPTIONS:
            raise ReproError(f"{path}: {key}.{opt}: use the profile field '{_FIELD_OPTIONS[name]}' instead")
        if name in ("mem_per_cpu", "mem_per_gpu") and mem_set:
            raise ReproError(f"{path}: {key}.{opt} and mem_gb both set; sbatch takes one memory request: "
                             f"remove mem_gb (and eval_mem_gb) or {opt}")
        if isinstance(v, bool):
            if not v:
                raise ReproError(f"{path}: {key}.{opt} = false: leave the option out instead")
        elif isinstance(v, int) and not isinstance(v, bool):
            pass
        elif isinstance(v, str):
            _no_control(path, f"{key}.{opt}", v)
        else:
            raise ReproError(f"{path}: {key}.{opt} must be text, an integer or true, got {v!r}")
        out[name] = v
    return tuple(sorted(out.items()))


def _canonical(path, data: dict) -> dict:
    """Keys mapped to field names (aliases, '-' for '_'); a field given twice is an error."""
    out, given = {}, {}
    for key, value in data.items():
        name = key.replace("-", "_")
        name = ALIASES.get(name, name)
        if name not in _FIELDS:
            raise ReproError(f"{path}: unknown field '{key}'; known fields: {', '.join(_FIELDS)} "
                             f"(also accepted: {', '.join(sorted(ALIASES))})")
        if name in out:
            raise ReproError(f"{path}: '{key}' and '{given[name]}' both set field '{name}'; keep one")
        out[name], given[name] = value, key
    if "time_min" in out and given["time_min"] in ("time", "slurm_time") and isinstance(out["time_min"], str):
        raise ReproError(f"{path}: field '{given['time_min']}' must be whole minutes (an integer), "
                         f"got {out['time_min']!r}")
    if "mem_gb" in out and given["mem_gb"] in ("mem", "slurm_mem") and isinstance(out["mem_gb"], str):
        raise ReproError(f"{path}: field '{given['mem_gb']}' must be a number of GB, got "
                         f"{out['mem_gb']!r}; write it as mem_gb = <GB>")
    return out


def load_profile(name_or_path: str = "local") -> Profile:
    """Read a profile by name (slurm/profiles/<name>.toml) or path into a `Profile`."""
    path = _resolve(str(name_or_path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ReproError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ReproError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    values = {}
    data = _canonical(path, data)
    mem_set = bool(data.get("mem_gb") or data.get("eval_mem_gb"))
    for key, value in data.items():
        if key in _INT:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ReproError(f"{path}: field '{key}' must be a non-negative integer, got {value!r}")
            if value > _MAX[key]:
                raise ReproError(f"{path}: field '{key}' = {value} is out of range (at most {_MAX[key]})")
        elif key in _FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX[key]:
                raise ReproError(f"{path}: field '{key}' must be a positive number up to {_MAX[key]}, "
                                 f"got {value!r}")
        elif key == "setup":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ReproError(f"{path}: field 'setup' must be a list of shell lines (strings)")
            value = tuple(value)
        elif key in _TABLES:
            value = _options(path, key, value, mem_set)
        elif not isinstance(value, str):
            raise ReproError(f"{path}: field '{key}' must be a string, got {value!r}")
        elif key == "python" and not value.strip():
            raise ReproError(f"{path}: field 'python' is empty; name the interpreter command "
                             f"(e.g. \"python\" from the environment `setup` activates), or remove it")
        for text in (value if key == "setup" else (value,)):
            _no_control(path, key, text)
        values[key] = value
    for key in _POSITIVE:
        if key in values and values[key] == 0:
            raise ReproError(f"{path}: field '{key}' must be at least 1")
    prof = Profile(name=path.stem, path=str(path), **values)
    if prof.checkpoint_wait_s >= prof.signal_delay_s:
        raise ReproError(f"{path}: checkpoint_wait_s={prof.checkpoint_wait_s} must be below "
                         f"signal_delay_s={prof.signal_delay_s} (the save must finish before the limit)")
    if prof.time_min < prof.min_time_min:
        raise ReproError(f"{path}: time_min={prof.time_min} is too short for signal_delay_s="
                         f"{prof.signal_delay_s}: SLURM may send the signal up to {SIGNAL_JITTER_S} s "
                         f"earlier than asked, so a job could be signalled before it does any work; "
                         f"use time_min >= {prof.min_time_min} (or a smaller signal_delay_s)")
    if prof.gpus_per_node and prof.tasks_per_node != prof.gpus_per_node:
        raise ReproError(f"{path}: tasks_per_node={prof.tasks_per_node} with gpus_per_node="
                         f"{prof.gpus_per_node}: training runs one process per GPU; set tasks_per_node = "
                         f"{prof.gpus_per_node} or remove it")
    if prof.eval_gpus > 1:
        raise ReproError(f"{path}: eval_gpus={prof.eval_gpus}: an evaluation runs in one process on "
                         f"one GPU; use eval_gpus = 1")
    return prof
