"""Readers for the array-format releases: CIFAR-10 python batches, downsampled-ImageNet npz.

A reader is a `Source`: `count`, `labels` (int64 or None), `listing` ((relpath, size) pairs
that identify the input), `problems` (reasons the input is not the standard release, e.g. a
checksum mismatch), and `chunks()` yielding uint8 (n, H, W, 3) arrays in dataset order.
Only `repro data prepare` constructs readers; training reads the prepared arrays.
"""
from __future__ import annotations

import codecs
import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repro.io import ReproError

from .catalog import CIFAR10_MD5


@dataclass
class Source:
    count: int
    labels: "np.ndarray | None"
    listing: list
    problems: list = field(default_factory=list)
    chunks: object = None        # callable () -> iterator of uint8 (n, H, W, 3)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The CIFAR-10 batches are pickles (the publisher's format). Unpickling runs code named in
    the file, so allow only the globals a numpy array needs; anything else is refused.
    """
    _reconstruct = np.zeros(1).__reduce__()[0]
    _frombuffer = np.zeros(1).__reduce_ex__(5)[0]       # protocol-5 arrays
    ALLOWED = {
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("_codecs", "encode"): codecs.encode,           # bytes in py3 protocol-2 pickles
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _load_cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, MemoryError) as e:
        raise ReproError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: "
                         f"{str(e)[:120]}); re-extract cifar-10-python.tar.gz") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise ReproError(f"{path}: not a CIFAR-10 batch (no b'data'/b'labels'); "
                         f"point --src at cifar-10-batches-py/")
    try:   # labels as bytes or strings would be read as character codes by asarray
        if isinstance(d[b"labels"], (bytes, str)):
            raise TypeError("labels are a string")
        data, labels = d[b"data"], np.asarray(d[b"labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise ReproError(f"{path}: b'labels' must be a list of integers 0..9 ({e}); re-download the "
                         f"batch") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072 or len(labels) != len(data):
        raise ReproError(f"{path}: b'data' must be uint8 (N, 3072) with N labels, got "
                         f"{getattr(data, 'dtype', type(data).__name__)} "
                         f"{getattr(data, 'shape', '')} and {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ReproError(f"{path}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def cifar10(src: Path, split: str = "train") -> Source:
    src = Path(src)
    if (src / "cifar-10-batches-py").is_dir():
        src = src / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (src / n).is_file()]
    if len(missing) == len(names):
        raise ReproError(f"{src}: no CIFAR-10 batches ({names[0]} ...); point --src at the "
                         f"extracted cifar-10-batches-py/ directory")
    present = [src / n for n in names if n not in missing]
    problems = [f"missing {n}" for n in missing]
    for p in present:                        # publisher md5s: any mismatch = not the release
        if _md5(p) != CIFAR10_MD5[p.name]:
            problems.append(f"{p.name}: md5 differs from the official release")
    # The whole train set is 150 MB: load it once, count it, hand it out as one chunk.
    batches = [_load_cifar_batch(p) for p in present]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    listing = [(p.name, p.stat().st_size) for p in present]
    return Source(len(images), labels, listing, problems, lambda: iter([images]))


def _batch_index(p: Path) -> int:
    m = re.search(r"_(\d+)\.npz$", p.name)
    return int(m.group(1)) if m else 0


def _open_npz(path: Path):
    try:
        z = np.load(path, allow_pickle=False)
        labels = np.asarray(z["labels"], dtype=np.int64)
    except KeyError:
        raise ReproError(f"{path}: no 'labels' array; expected a downsampled-ImageNet batch") from None
    except Exception as e:              # zipfile.BadZipFile, OSError, ValueError on truncation
        raise ReproError(f"{path}: unreadable npz ({type(e).__name__}: {str(e)[:120]}); "
                         f"re-download Imagenet64_train_npz") from None
    return z, labels


def imagenet64(src: Path, split: str = "train") -> Source:
    src = Path(src)
    files = sorted(src.glob("train_data_batch_*.npz" if split == "train" else "val_data.npz"),
                   key=_batch_index)
    if not files:
        raise ReproError(f"{src}: no train_data_batch_*.npz files; point --src at the "
                         f"extracted Imagenet64_train_npz/ directory")
    problems = []
    if split == "train":
        have = {_batch_index(p) for p in files}
        problems += [f"missing train_data_batch_{i}.npz" for i in range(1, 11) if i not in have]
    labels, lens = [], []
    for p in files:                     # pass 1: labels only (npz members load lazily)
        _, lab = _open_npz(p)
        if len(lab) and (lab.min() < 1 or lab.max() > 1000):
            raise ReproError(f"{p}: labels outside 1..1000 (the release is 1-based)")
        labels.append(lab - 1)
        lens.append(len(lab))
    labels = np.concatenate(labels)

    def chunks():
        for p, lab in zip(files, lens):
            z, _ = _open_npz(p)
            try:
                data = z["data"]
            except Exception as e:
                raise ReproError(f"{p}: cannot read 'data' ({type(e).__name__}: "
                                 f"{str(e)[:120]}); re-download it") from None
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape != (lab, 12288):
                raise ReproError(f"{p}: 'data' must be uint8 ({lab}, 12288), got "
                                 f"{data.dtype} {data.shape}")
            yield data.reshape(-1, 3, 64, 64).transpose(0, 2, 3, 1)

    listing = [(p.name, p.stat().st_size) for p in files]
    return Source(len(labels), labels, listing, problems, chunks)
