"""Checkpoints: written atomically, several kept, loaded with weights_only=True.

A run resumes from the newest checkpoint that loads; a corrupt newest one (a torn copy from a
filesystem that ignores fsync) falls back to the one before, with a warning.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from repro.io import ReproError, atomic_torch_save, safe_torch_load

CKPT_RE = re.compile(r"^step-(\d{7,})\.pt$")
FORMAT_VERSION = 1


def ckpt_dir(run_dir) -> Path:
    return Path(run_dir) / "ckpt"


def checkpoints(run_dir) -> list[Path]:
    """Step checkpoints, newest first."""
    d = ckpt_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def save_checkpoint(run_dir, state: dict, keep: int = 2) -> Path:
    path = ckpt_dir(run_dir) / f"step-{state['step']:07d}.pt"
    atomic_torch_save(path, {"format_version": FORMAT_VERSION, **state})
    for old in checkpoints(run_dir)[max(keep, 1):]:
        old.unlink(missing_ok=True)
    return path


def load_latest(run_dir, training_key: str | None = None):
    """(state, path) of the newest loadable checkpoint, or (None, None) for a fresh run."""
    for path in checkpoints(run_dir):
        try:
            state = load_checkpoint(path, training_key)
        except ReproError as e:
            if "training key" in str(e):
                raise
            print(f"warning: {e}; trying the previous checkpoint", file=sys.stderr)
            continue
        return state, path
    return None, None


def load_checkpoint(path, training_key: str | None = None, mmap: bool = False) -> dict:
    """mmap=True maps tensors lazily: cheap when only the metadata is read."""
    state = safe_torch_load(path, mmap=mmap)
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise ReproError(f"{path}: not a repro checkpoint (no model/step entries)")
    if training_key is not None and state.get("training_key") != training_key:
        raise ReproError(
            f"{path}: written under training key {state.get('training_key')}, not {training_key} "
            f"(the row's training bindings changed); use another run directory, or check out the "
            f"commit in its operative_config.gin")
    return state
