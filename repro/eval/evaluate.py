"""`evaluate`: sample with per-sample seeds, decode, stream into the metric, save a grid.

Images are never all written to disk (unless save_images=True): each decoded batch goes
straight into clean-fid's feature loop (FID), into the precision/recall network if that is a
different one (VGG16), and only the first 64 are kept for grid.png. The returned dict holds the
numbers, the protocol that produced them (everything a reader needs to compare with a paper)
and the throughput.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from repro.io import ReproError, atomic_write_bytes, sha256_file
from repro.specs import EvalSpec

from .demo_metrics import fd_pixels, w2_pixels
from .fid import FeatureExtractor, feature_stats, frechet_distance, inception_extractor
from .grid import save_grid
from .precision_recall import pr_extractor, precision_recall
from .refstats import reference_stats, save_stats, RefStats
from .sample import jpeg_roundtrip, sample_batches, to_uint8
from .stream import streamed_features

METRICS = ("fid", "w2_pixels", "fd_pixels")
GRID_N = 64


def _uint8_nhwc(imgs) -> np.ndarray:
    a = imgs.detach().cpu().numpy() if torch.is_tensor(imgs) else np.asarray(imgs)
    if a.dtype != np.uint8 or a.ndim != 4:
        raise ReproError(f"decode must return uint8 NHWC images, got {a.dtype} {a.shape}")
    return a


def callable_name(fn, default: str = "pixels") -> str:
    """The stable name a record shows for `fn`: its `name` attribute, else module.qualname.

    A repr ("<lambda>", "<function f at 0x…>") changes between runs and says nothing, so
    anonymous callables are refused instead of recorded.
    """
    if fn is None:
        return default
    name = getattr(fn, "name", None)
    if isinstance(name, str) and name:
        return name
    qual = getattr(fn, "__qualname__", "")
    if qual and "<" not in qual:
        return f"{fn.__module__}.{qual}"
    raise ReproError(f"decode={fn!r}: an anonymous callable cannot be named in the result "
                     f"record; pass a module-level function or an object with a `name` attribute "
                     f"(e.g. repro.data.trainset.Decoder(fn, 'vae:...'))")


def _save_png(img: np.ndarray, path: Path) -> None:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def evaluate(f, spec: EvalSpec, shape, out_dir, decode: Optional[Callable] = None, real=None,
             num: Optional[int] = None, device="cpu",
             feature_extractor: Optional[FeatureExtractor] = None, progress: bool = True,
             *, save_images: bool = False, reference_source=None, cache_dir=None,
             pr_feature_extractor: Optional[FeatureExtractor] = None,
             class_sampler: Optional[Callable] = None, cache=None) -> dict:
    """Evaluate consistency function f(x, sigma, class_labels) under `spec`.

    shape: (C, H, W) of one model-space sample. decode: model-space batch -> uint8 NHWC images
    (default: pixels in [-1, 1] via `to_uint8`). real: uint8 NHWC images for the demo metrics
    (and precision/recall without a prepared reference). reference_source: see
    `reference_stats` (default: published stats or $REPRO_DATA/<spec.reference>).
    """
    num = int(num or spec.num_samples)
    out_dir = Path(out_dir)
    if spec.metric not in METRICS:
        raise ReproError(f"EvalSpec.metric={spec.metric!r}: unknown; choose one of {', '.join(METRICS)}")
    if spec.nfe != len(spec.sigmas):
        raise ReproError(f"EvalSpec: nfe={spec.nfe} but {len(spec.sigmas)} sigmas {tuple(spec.sigmas)}; "
                         f"give one sigma per function evaluation")
    if spec.gen_format not in ("png", "jpg"):
        raise ReproError(f"EvalSpec.gen_format={spec.gen_format!r}: choose 'png' or 'jpg'")
    decode_name = callable_name(decode)      # before any sampling: a bad decode fails fast
    decode = decode or to_uint8
    fbs = int(spec.batch_size)

    # Feature networks first: a missing weights file fails before any sampling is done.
    fid_ext = None
    if spec.metric == "fid":
        fid_ext = feature_extractor or inception_extractor(spec.fid_mode, device, cache)
    pr_ext = None
    if spec.precision_recall != "none":
        pr_ext = pr_feature_extractor or pr_extractor(spec.precision_recall, device, cache, spec.fid_mode)
    reuse_pr = pr_ext is not None and fid_ext is not None and pr_ext.id == fid_ext.id
    if pr_ext is not None and not reuse_pr and pr_ext.mode != "native":
        raise ReproError(f"precision/recall extractor {pr_ext.id}: needs mode 'native' or the FID "
                         f"extractor itself, got mode {pr_ext.mode!r}")

    grid, pr_fake, timing = [], [], {"generate_s": 0.0, "pr_features_s": 0.0}
    bar = None
    if progress:
        from tqdm import tqdm
        import os

        # samples/s and the ETA of all `num`, in words a reader does not have to decode
        bar = tqdm(total=num, unit=" samples", desc=f"eval {spec.metric}", dynamic_ncols=True,
                   smoothing=0.1, disable=os.environ.get("REPRO_NO_PROGRESS") == "1",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} samples, "
                              "{rate_fmt}, ETA {remaining} (elapsed {elapsed})")

    # FID alone: the JPEG round trip moves to the feature pipeline's host threads
    # (repro.eval.stream); saved images and a second feature network need it here.
    host_jpeg = (spec.metric == "fid" and spec.gen_format == "jpg" and not save_images
                 and (pr_ext is None or reuse_pr))

    def stream():
        done = 0
        if bar is not None:
            bar.reset(total=num)   # the clock starts with sampling, not with loading the reference
        it = sample_batches(f, num, fbs, shape, spec.sigmas, spec.seed, device, class_sampler)
        while True:
            t0 = time.perf_counter()
            try:
                x = next(it)
            except StopIteration:
                return
            imgs = _uint8_nhwc(decode(x))
            if spec.gen_format == "jpg" and not host_jpeg:
                imgs = jpeg_roundtrip(imgs)
            timing["generate_s"] += time.perf_counter() - t0
            if len(grid) < GRID_N:
                shown = imgs[:GRID_N - len(grid)]
                grid.extend(jpeg_roundtrip(shown) if host_jpeg else shown)
            if save_images:
                for k, im in enumerate(imgs):
                    _save_png(im, out_dir / "samples" / f"{done + k:06d}.png")
            if pr_ext is not None and not reuse_pr:
                t1 = time.perf_counter()
                with torch.no_grad():
                    xt = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float().to(device)
                    pr_fake.append(torch.as_tensor(pr_ext.fn(xt)).float().cpu().numpy())
                timing["pr_features_s"] += time.perf_counter() - t1
            done += len(imgs)
            if bar is not None:
                bar.update(len(imgs))
            yield imgs

    t_start = time.perf_counter()
    metrics, ref, artifacts = {}, None, {}
    try:
        if spec.metric == "fid":
            ref = reference_stats(spec.reference, reference_source, fid_ext, spec.fid_mode, cache_dir,
                                  batch_size=fbs, device=device, keep_features=reuse_pr, cache=cache)
            t_ref = time.perf_counter()
            feats = streamed_features(stream(), num, fid_ext, fbs, device, mode=spec.fid_mode, jpeg=host_jpeg)
            timing["reference_s"] = t_ref - t_start
            mu, sigma = feature_stats(feats)
            metrics["fid"] = frechet_distance(mu, sigma, ref.mu, ref.sigma)
            gen = RefStats(mu, sigma, {"what": "generated", "mode": spec.fid_mode,
                                       "extractor": fid_ext.id, "num": num, "seed": spec.seed})
            save_stats(out_dir / "gen_stats.npz", gen)
            artifacts["gen_stats"] = str(out_dir / "gen_stats.npz")
            artifacts["gen_stats_sha256"] = sha256_file(out_dir / "gen_stats.npz")
            if reuse_pr:
                pr_fake = [feats]
        else:
            if real is None:
                raise ReproError(f"EvalSpec.metric={spec.metric}: pass real= uint8 images "
                                 f"(the {spec.reference or 'held-out'} set)")
            t_ref = time.perf_counter()
            fake = np.concatenate(list(stream()))[:num]
            fn = w2_pixels if spec.metric == "w2_pixels" else fd_pixels
            metrics[spec.metric] = fn(fake, _uint8_nhwc(real))
    finally:
        if bar is not None:
            bar.close()

    if pr_ext is not None:
        if reuse_pr:
            real_feats = ref.features
        else:
            src = reference_source if reference_source is not None else real
            pref = reference_stats(spec.reference or "real", src, pr_ext, pr_ext.mode, cache_dir,
                                   batch_size=fbs, device=device, keep_features=True,
                                   mirror=(spec.precision_recall == "vgg16_k3"), cache=cache)
            real_feats = pref.features
        if real_feats is None:
            raise ReproError(f"reference {spec.reference!r}: precision/recall needs the real "
                             f"images' features; prepare the dataset (`repro data prepare`)")
        metrics["precision"], metrics["recall"] = precision_recall(
            real_feats, np.concatenate(pr_fake)[:num], k=3, device=device)

    wall = time.perf_counter() - t_start
    if grid:
        save_grid(np.stack(grid), out_dir / "grid.png", nrow=8, min_tile=32)
        artifacts["grid"] = str(out_dir / "grid.png")
    sample_wall = time.perf_counter() - t_ref if spec.metric == "fid" else wall
    protocol = {
        "metric": spec.metric, "num_samples": num, "nfe": spec.nfe,
        "sigmas": [float(s) for s in spec.sigmas], "seed": spec.seed, "seeding": "sha256(seed:i)",
        "gen_format": spec.gen_format, "batch_size": fbs,
        "decode": decode_name,
        "mode": spec.fid_mode if spec.metric == "fid" else None,
        "extractor": fid_ext.id if fid_ext is not None else None,
        "reference": {"name": spec.reference,
                      "hash": ref.hash if ref is not None else None,
                      "path": str(ref.path) if ref is not None and ref.path else None},
        "precision_recall": spec.precision_recall,
        "pr_extractor": pr_ext.id if pr_ext is not None else None,
    }
    throughput = {
        "wall_s": wall, "generate_s": timing["generate_s"],
        "features_s": max(sample_wall - timing["generate_s"] - timing["pr_features_s"], 0.0),
        "pr_features_s": timing["pr_features_s"], "reference_s": timing.get("reference_s", 0.0),
        "samples_per_s": num / max(sample_wall, 1e-9),
    }
    return {"metrics": metrics, "protocol": protocol, "throughput": throughput, "artifacts": artifacts}
