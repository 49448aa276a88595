"""Checkpoints: written atomically with a content hash beside them, loaded with weights_only=True.

`step-NNNNNNN.pt` has a sidecar `step-NNNNNNN.pt.sha256` in `sha256sum` format, written before
the checkpoint itself, so a checkpoint on disk always has its hash (`sha256sum -c` checks it by
hand). A run resumes from the newest checkpoint whose bytes match its hash and whose `step`
matches its file name; one that fails is set aside as `<name>.bad` (renamed, never deleted) with
a warning, and the one before it is used. Pruning only removes checkpoints older than the one
just written, so the newest good checkpoint is never removed.
"""
from __future__ import annotations

import hashlib
import io
import re
import sys
from pathlib import Path

from repro.io import ReproError, atomic_write_bytes, atomic_write_text, safe_torch_load

CKPT_RE = re.compile(r"^step-(\d{7,})\.pt$")
FORMAT_VERSION = 1
HASH_SUFFIX = ".sha256"
BAD_SUFFIX = ".bad"


def ckpt_dir(run_dir) -> Path:
    return Path(run_dir) / "ckpt"


def step_of(path) -> int | None:
    m = CKPT_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def checkpoints(run_dir) -> list[Path]:
    """Step checkpoints (regular files named step-N.pt), newest first."""
    d = ckpt_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(step_of(p), p) for p in d.iterdir() if step_of(p) is not None and p.is_file()]
    return [p for _, p in sorted(found, reverse=True)]


def hash_path(path) -> Path:
    return Path(str(path) + HASH_SUFFIX)


def save_checkpoint(run_dir, state: dict, keep: int = 2) -> Path:
    import torch

    path = ckpt_dir(run_dir) / f"step-{state['step']:07d}.pt"
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buf)
    data = buf.getvalue()
    # Hash first: a kill between the two writes leaves a hash without a checkpoint (harmless),
    # never a checkpoint without its hash.
    atomic_write_text(hash_path(path), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    atomic_write_bytes(path, data)
    prune(run_dir, path, keep)
    return path


def prune(run_dir, newest: Path, keep: int) -> None:
    """Keep `newest` and the keep-1 checkpoints just before it; never touch later-numbered files."""
    s = step_of(newest)
    older = [p for p in checkpoints(run_dir) if step_of(p) < s]
    for old in older[max(keep, 1) - 1:]:
        old.unlink(missing_ok=True)
        hash_path(old).unlink(missing_ok=True)


def verify_checkpoint(path) -> None:
    """Raise ReproError when `path`'s bytes differ from its recorded sha256."""
    from repro.io import sha256_file

    path = Path(path)
    hp = hash_path(path)
    try:
        want = hp.read_text().split()[0]
    except FileNotFoundError:
        # Written before hashes existed, or copied without its sidecar: usable, unchecked.
        print(f"warning: {path}: no {hp.name} beside it; its content cannot be checked", file=sys.stderr)
        return
    except (OSError, IndexError, UnicodeDecodeError):
        raise ReproError(f"{hp}: unreadable hash file") from None
    got = sha256_file(path)
    if got != want:
        raise ReproError(f"{path}: content hash {got[:12]}… does not match {hp.name} ({want[:12]}…); "
                         f"the file is damaged")


def set_aside(path, why: str) -> Path:
    """Rename a checkpoint that failed its checks out of the resume path (kept for inspection)."""
    path = Path(path)
    dest = path.with_name(path.name + BAD_SUFFIX)
    n = 1
    while dest.exists():
        dest, n = path.with_name(f"{path.name}{BAD_SUFFIX}{n}"), n + 1
    path.rename(dest)
    hp = hash_path(path)
    if hp.exists():
        hp.rename(Path(str(dest) + HASH_SUFFIX))
    print(f"warning: {path}: {why}; set aside as {dest.name}; using the previous checkpoint",
          file=sys.stderr)
    return dest


def load_latest(run_dir, training_key: str | None = None):
    """(state, path) of the newest checkpoint that passes its checks, or (None, None) for a fresh run."""
    for path in checkpoints(run_dir):
        try:
            if not path.is_file():
                raise ReproError(f"{path}: not a regular file")
            verify_checkpoint(path)
            state = load_checkpoint(path, training_key)
            _check_finite(path, state)
        except ReproError as e:
            if "training key" in str(e):
                raise
            set_aside(path, str(e).split(": ", 1)[-1])
            continue
        return state, path
    return None, None


def _check_finite(path, state) -> None:
    import torch

    for name, t in state["model"].items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ReproError(f"{path}: non-finite weights in '{name}'")


def load_checkpoint(path, training_key: str | None = None, mmap: bool = False) -> dict:
    """mmap=True maps tensors lazily: cheap when only the metadata is read."""
    state = safe_torch_load(path, mmap=mmap)
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise ReproError(f"{path}: not a repro checkpoint (no model/step entries)")
    if not isinstance(state["model"], dict) or not state["model"]:
        raise ReproError(f"{path}: not a repro checkpoint (empty or malformed model weights)")
    named = step_of(path)
    if named is not None and state["step"] != named:
        raise ReproError(f"{path}: holds step {state['step']!r} but is named for step {named}")
    if training_key is not None and state.get("training_key") != training_key:
        raise ReproError(
            f"{path}: written under training key {state.get('training_key')}, not {training_key} "
            f"(the row's training bindings changed); use another run directory, or check out the "
            f"commit in its operative_config.gin")
    return state
