"""Atomic, crash-safe writes and safe loads.

Every file the harness writes goes through here: write to a temp file in the same
directory, fsync it, rename over the target, fsync the directory. A reader therefore sees
either the old file or the whole new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path


class ReproError(Exception):
    """An error the user can act on; the CLI prints its message as one line, no traceback."""

    exit_code = 2


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temp file next to `path`; on clean exit fsync and rename it onto `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp makes 0600 files; a shared cache or registry needs what the umask allows.
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError as e:
        _write_failed(path, e)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            _write_failed(path, e)
        raise


def _umask() -> int:
    try:     # Linux reports it without changing it (os.umask can only set and return)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Errors of the file system, not of the caller's code: the user can act on them.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EIO}


def _write_failed(path: Path, e: OSError):
    if e.errno not in _WRITE_ERRNOS:
        raise e
    raise ReproError(f"{path}: cannot write ({e.strerror or e}); the file was left as it was "
                     f"(no partial copy); free space or fix permissions and re-run") from None


def atomic_write_bytes(path, data: bytes) -> None:
    # Test hook (fault injection, tests/test_reliability_kill.py): REPRO_TEST_WRITE_DELAY_S
    # pauses half-way through the write, so a SIGKILL can land on a torn temp file.
    delay = float(os.environ.get("REPRO_TEST_WRITE_DELAY_S") or 0)
    with atomic_open(path, "wb") as f:
        if delay > 0:
            f.write(data[:len(data) // 2])
            f.flush()
            time.sleep(delay)
            f.write(data[len(data) // 2:])
        else:
            f.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def append_text(path, text: str) -> None:
    """Append whole lines to a log (metrics.jsonl). Not atomic across a kill: readers of such
    logs skip a torn last line (see repro.train.loop._trim_log); a full disk is a ReproError."""
    path = Path(path)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
    except OSError as e:
        _write_failed(path, e)


def atomic_torch_save(path, obj) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def safe_torch_load(path, map_location="cpu", mmap: bool = False):
    """Load a checkpoint without running code from it (weights_only=True).

    A file that is not a torch archive, is truncated, or holds pickled objects beyond plain
    tensors and containers raises ReproError naming the file.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ReproError(f"{path}: no such checkpoint file")
    import zipfile
    if not zipfile.is_zipfile(path):    # torch.save writes a zip archive; random or cut-off bytes
        raise ReproError(f"{path}: corrupt or truncated checkpoint (not a complete torch zip "
                         f"archive); delete it to fall back to the previous one")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReproError(f"{path}: refused to load: it holds objects that are not plain tensors "
                         f"({first[:160]}); only load checkpoints written by repro") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReproError(f"{path}: corrupt or truncated checkpoint ({first[:160]}); "
                         f"delete it to fall back to the previous one") from None


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def promote_file(tmp, path) -> None:
    """Make a finished file written in place (a resumable download's `.part`) durable and
    rename it onto `path`: a reader sees no file or the whole file, never a torn one."""
    tmp, path = Path(tmp), Path(path)
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        _write_failed(path, e)
    _fsync_dir(path.parent)


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
