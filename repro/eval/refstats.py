"""Reference statistics of the real images: computed once, cached as .npz, checked on load.

A cached file records what it was computed from (dataset name and content hash, clean-fid
mode, extractor id, image count, mirroring); its name carries a hash of those, and a loaded
file whose record differs from the request is refused, so statistics of one protocol can never
be silently used for another. Published statistics (clean-fid's CIFAR-10, ADM's ImageNet-64
reference batch) come from the asset cache; `PRECOMPUTED` says which protocol each one is.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from repro.io import ReproError, atomic_write_bytes, canonical_json

from .fid import FeatureExtractor, cleanfid_features, feature_stats

# name -> (asset, mode, extractor id) of statistics published by others.
PRECOMPUTED = {
    # clean-fid's own file (docs/FIDELITY.md: CIFAR-10 FID with legacy_tensorflow vs the train set).
    "cifar10_train": ("ref-cifar10-train", "legacy_tensorflow", "inception-torchscript"),
    # ADM evaluator batch: computed by ADM's TF graph of the same 2015-12-05 Inception; clean-fid
    # legacy_tensorflow runs that graph via torchscript, the closest match we have.
    "imagenet64_adm_virtual": ("ref-imagenet64-adm", "legacy_tensorflow", "inception-torchscript"),
}


@dataclass
class RefStats:
    mu: np.ndarray
    sigma: np.ndarray
    meta: dict
    features: Optional[np.ndarray] = None
    path: Optional[Path] = None
    hash: str = field(default="")


def _meta_line(m: dict) -> str:
    return (f"dataset={m.get('dataset')}#{str(m.get('data_hash'))[:12]} mode={m.get('mode')} "
            f"extractor={m.get('extractor')}")


def check_meta(recorded: dict, asked: dict, where) -> None:
    """Refuse statistics recorded for another dataset / mode / extractor (one-line error)."""
    keys = [k for k in ("dataset", "data_hash", "mode", "extractor", "mirror")
            if k in asked and k in recorded and recorded[k] != asked[k]]
    if keys:
        raise ReproError(f"{where}: reference statistics were computed for {_meta_line(recorded)}"
                         f", asked for {_meta_line(asked)}; delete the file or fix the request")


def _source_identity(name: str, source):
    """(array-like NHWC uint8 images, content hash) of a prepared dir, an array, or (iter, id)."""
    if isinstance(source, (str, Path)):
        d = Path(source).expanduser()
        man = d / "manifest.json"
        if not man.is_file():
            raise ReproError(f"{d}: no prepared dataset here (manifest.json missing); run "
                             f"`repro data prepare {name}`")
        m = json.loads(man.read_text())
        images = np.load(d / "images.npy", mmap_mode="r")
        return images, f"{m.get('images_sha256', '')}:{m.get('count')}"
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], str):
        return source                       # (iterable of uint8 batches, caller's identity)
    arr = np.ascontiguousarray(source)
    if arr.dtype != np.uint8 or arr.ndim != 4:
        raise ReproError(f"reference {name!r}: images must be uint8 NHWC, got {arr.dtype} {arr.shape}")
    return arr, hashlib.sha256(arr.tobytes()).hexdigest()


def _batches(images, batch: int, mirror: bool):
    if not isinstance(images, np.ndarray):  # an iterable of batches from the caller
        for b in images:
            yield np.asarray(b)
            if mirror:
                yield np.ascontiguousarray(np.asarray(b)[:, :, ::-1])
        return
    for s in range(0, len(images), batch):
        b = np.asarray(images[s:s + batch])
        yield b
        if mirror:      # StyleGAN2-ADA `--mirror 1`: x-flipped copies join the real set
            yield np.ascontiguousarray(b[:, :, ::-1])


def load_stats(path, asked: Optional[dict] = None) -> RefStats:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
            feats = z["features"] if "features" in z.files else None
            rs = RefStats(np.asarray(z["mu"], np.float64), np.asarray(z["sigma"], np.float64),
                          meta, feats, path, meta.get("key", ""))
    except (OSError, ValueError, KeyError) as e:
        raise ReproError(f"{path}: unreadable reference statistics ({str(e)[:100]}); delete it "
                         f"to recompute") from None
    if asked:
        check_meta(meta, asked, path)
    return rs


def save_stats(path, rs: RefStats) -> None:
    buf = io.BytesIO()
    arrays = {"mu": rs.mu, "sigma": rs.sigma, "meta": np.array(json.dumps(rs.meta, sort_keys=True))}
    if rs.features is not None:
        arrays["features"] = rs.features
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _precomputed(name: str, extractor_id: str, mode: str, cache) -> Optional[RefStats]:
    from repro.data.assets import asset_path
    asset, rmode, rext = PRECOMPUTED[name]
    p = asset_path(asset, cache)
    if not p.is_file():
        return None
    if (rmode, rext) != (mode, extractor_id):
        raise ReproError(f"{p}: reference statistics were computed for dataset={name} mode={rmode} "
                         f"extractor={rext}, asked for dataset={name} mode={mode} "
                         f"extractor={extractor_id}; use the row's fid_mode or another reference")
    with np.load(p, allow_pickle=False) as z:
        meta = {"dataset": name, "data_hash": f"asset:{asset}", "mode": rmode, "extractor": rext,
                "precomputed": str(p), "key": f"asset:{asset}"}
        return RefStats(np.asarray(z["mu"], np.float64), np.asarray(z["sigma"], np.float64),
                        meta, None, p, meta["key"])


def reference_stats(name: str, source, extractor: FeatureExtractor, mode: Optional[str] = None,
                    cache_dir=None, num: Optional[int] = None, batch_size: int = 64,
                    device="cpu", keep_features: bool = False, mirror: bool = False,
                    cache=None) -> RefStats:
    """Statistics of the real set `name` under (`extractor`, `mode`), cached in `cache_dir`
    (default $REPRO_CACHE/stats/computed).

    source: a prepared dataset dir ($REPRO_DATA/<name>), a uint8 NHWC array, a pair
    (iterable of uint8 batches, identity string), or None to use only published/cached stats.
    keep_features stores the feature vectors too (precision/recall needs them).
    """
    from repro.data.paths import cache_root
    mode = mode or extractor.mode
    if name in PRECOMPUTED and not mirror and source is None:
        rs = _precomputed(name, extractor.id, mode, cache)
        if rs is not None and not keep_features:
            return rs
        if rs is not None:
            # The ADM reference batch also holds its images (arr_0): precision/recall needs
            # their features, FID keeps the published mu/sigma.
            with np.load(rs.path, allow_pickle=False) as z:
                if "arr_0" not in z.files:
                    raise ReproError(f"{rs.path}: holds statistics only, no images; precision/"
                                     f"recall needs the real images (`repro data prepare`)")
                imgs = np.asarray(z["arr_0"])
            feats = reference_stats(name, (iter([imgs]), f"{rs.hash}:arr_0"), extractor, mode,
                                    cache_dir, len(imgs), batch_size, device, True, False, cache)
            rs.features = feats.features
            return rs
    if source is None:
        from repro.data.paths import dataset_dir
        source = dataset_dir(name)
        if not (source / "manifest.json").is_file():
            hint = (f"`repro fetch --only {PRECOMPUTED[name][0]}`" if name in PRECOMPUTED
                    else f"`repro data prepare {name}`")
            raise ReproError(f"reference {name!r}: no statistics cached and no prepared dataset at "
                             f"{source}; run {hint}")
    images, data_hash = _source_identity(name, source)
    if num is None and isinstance(images, np.ndarray):
        num = len(images)
    if num is None:
        raise ReproError(f"reference {name!r}: pass num= with an iterable source")
    total = num * (2 if mirror else 1)
    asked = {"dataset": name, "data_hash": data_hash, "mode": mode, "extractor": extractor.id,
             "num": int(num), "mirror": bool(mirror)}
    key = hashlib.sha256(canonical_json(asked).encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_root(cache) / "stats" / "computed"
    path = cache_dir / f"{name}_{mode}_{extractor.id}_{key}.npz"
    if path.is_file():
        rs = load_stats(path, asked)
        if not keep_features or rs.features is not None:
            return rs
    src = images[:num] if isinstance(images, np.ndarray) else images
    feats = cleanfid_features(_batches(src, batch_size, mirror), total, extractor,
                              batch_size=batch_size, device=device, mode=mode)
    mu, sigma = feature_stats(feats)
    rs = RefStats(mu, sigma, dict(asked, key=key, count=int(total)),
                  feats if keep_features else None, path, key)
    save_stats(path, rs)
    return rs
