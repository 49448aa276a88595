"""`repro data prepare`: convert a release once into a uint8 memory-mapped array.

Output under $REPRO_DATA/<name>/: `images.npy` (uint8, N×H×W×3, NumPy .npy so it is
self-describing and opens with mmap_mode='r'), `labels.npy` (int64, when the set has labels)
and `manifest.json`. Everything is written into a hidden temp dir next to the destination and
renamed into place at the end, so a crash or a bad input never leaves a directory with a
manifest that is not complete. A destination whose manifest matches the source is left alone.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from repro.io import ReproError, atomic_write_json, canonical_json, sha256_file

from . import catalog, readers_arrays, readers_images
from .paths import data_root

FORMAT_VERSION = 1


def open_source(name: str, src) -> readers_arrays.Source:
    info = catalog.info(name)
    src = Path(src).expanduser()
    if not src.exists():
        raise ReproError(f"{src}: no such file or directory; pass --src pointing at {info.note}")
    if info.kind == "cifar10":
        return readers_arrays.cifar10(src)
    if info.kind == "imagenet64":
        return readers_arrays.imagenet64(src)
    if info.kind == "lsun":
        return readers_images.lsun(src, info.resolution)
    return readers_images.folder(src, info.resolution, crop=info.crop)


def _listing_hash(listing) -> str:
    return hashlib.sha256(canonical_json(listing).encode()).hexdigest()


def _is_up_to_date(dest: Path, listing_hash: str, count: int) -> bool:
    try:
        m = json.loads((dest / "manifest.json").read_text())
        size = (dest / "images.npy").stat().st_size
    except (OSError, ValueError):
        return False
    # The array size check catches a truncated images.npy without re-hashing gigabytes.
    return (m.get("format_version") == FORMAT_VERSION and m.get("count") == count
            and m.get("source_listing_sha256") == listing_hash and size == m.get("images_bytes"))


def _remove_stale_temps(root: Path, name: str) -> None:
    """Temp dirs of killed runs (their pid is gone) would otherwise pile up: `.tmp-PID` (being
    written) and `.old-PID` (a replaced copy, when the kill fell between the two renames)."""
    for p in [*root.glob(f".{name}.tmp-*"), *root.glob(f".{name}.old-*")]:
        try:
            pid = int(p.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


def prepare(name: str, src, root=None, allow_nonstandard: bool = False,
            progress: bool = True) -> Path:
    """Validate `src` and write the prepared dataset; returns its directory.

    A source that is not the standard release (other count, missing batch, checksum mismatch)
    is refused unless `allow_nonstandard`; then it is prepared with `standard: false` and the
    reasons in the manifest (this is how tests and subsets are prepared).
    """
    info = catalog.info(name)
    source = open_source(name, src)
    problems = list(source.problems)
    if source.count not in info.expected_counts:
        problems.append(f"{source.count} images, the release has "
                        f"{' or '.join(f'{c:,}' for c in info.expected_counts)}")
    if problems and not allow_nonstandard:
        raise ReproError(f"{src}: not the standard {name} release ({'; '.join(problems[:3])}); "
                         f"fix the source, or pass --allow-nonstandard to prepare it anyway")
    if problems:
        print(f"repro data prepare: warning: {name} is non-standard: {'; '.join(problems[:3])}",
              file=sys.stderr)
    root = data_root(root)
    dest = root / name
    lhash = _listing_hash(source.listing)
    if _is_up_to_date(dest, lhash, source.count):
        return dest
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root, name)
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write(tmp, name, info, source, progress)
        manifest = {
            "dataset": name, "format_version": FORMAT_VERSION, "count": source.count,
            "shape": [source.count, info.resolution, info.resolution, 3], "dtype": "uint8",
            "layout": "NHWC", "num_classes": info.num_classes,
            "labels": source.labels is not None, "source": str(Path(src).expanduser()),
            "source_files": len(source.listing), "source_listing_sha256": lhash,
            "standard": not problems, "problems": problems,
            "images_bytes": (tmp / "images.npy").stat().st_size,
            "images_sha256": sha256_file(tmp / "images.npy"),
        }
        atomic_write_json(tmp / "manifest.json", manifest)
        _swap_in(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:                      # a failed first prepare leaves no empty data root
            shutil.rmtree(root, ignore_errors=True) if not any(root.iterdir()) else None
        raise
    return dest


def _write(tmp: Path, name: str, info, source, progress: bool) -> None:
    from tqdm import tqdm
    n, res = source.count, info.resolution
    arr = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                    shape=(n, res, res, 3))
    done = 0
    with tqdm(total=n, desc=f"prepare {name}", unit="img", disable=not progress) as bar:
        for chunk in source.chunks():
            if chunk.shape[1:] != (res, res, 3) or done + len(chunk) > n:
                raise ReproError(f"{name}: source yielded {chunk.shape[1:]} images past "
                                 f"{done}/{n}; the source changed while reading")
            arr[done:done + len(chunk)] = chunk
            done += len(chunk)
            bar.update(len(chunk))
    if done != n:
        raise ReproError(f"{name}: source listed {n} images but yielded {done}; "
                         f"the source is truncated")
    arr.flush()
    del arr
    with open(tmp / "images.npy", "rb+") as f:
        os.fsync(f.fileno())
    if source.labels is not None:
        np.save(tmp / "labels.npy", source.labels.astype(np.int64))


def _swap_in(tmp: Path, dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


def load_prepared(name: str, root=None):
    """(images memmap uint8 N×H×W×3, labels int64 or None, manifest) of a prepared set."""
    dest = data_root(root) / name
    try:
        manifest = json.loads((dest / "manifest.json").read_text())
    except FileNotFoundError:
        raise ReproError(f"{dest / 'manifest.json'}: dataset {name} is not prepared; run "
                         f"`REPRO_DATA={data_root(root)} repro data prepare {name} --src PATH`"
                         ) from None
    except ValueError:
        raise ReproError(f"{dest / 'manifest.json'}: corrupt manifest; re-run "
                         f"`repro data prepare {name} --src PATH`") from None
    try:
        images = np.load(dest / "images.npy", mmap_mode="r")
    except (OSError, ValueError) as e:
        raise ReproError(f"{dest / 'images.npy'}: unreadable ({str(e)[:100]}); delete {dest} "
                         f"and re-run `repro data prepare {name} --src PATH`") from None
    if list(images.shape) != manifest["shape"]:
        raise ReproError(f"{dest / 'images.npy'}: shape {images.shape} != manifest "
                         f"{manifest['shape']}; delete {dest} and prepare again")
    labels = np.load(dest / "labels.npy") if manifest.get("labels") else None
    return images, labels, manifest
