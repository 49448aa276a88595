"""The sLCT latent cache (as the LCT code's preprocessing): encode the prepared images once with the VAE.

Layout under $REPRO_DATA/<name>/latents/:
  latents.npy   float32 (M, 4, 32, 32): one posterior sample × 0.18215 per image
  stats.npz     mean, std (4, 32, 32) over latents/0.18215 (population std)
  manifest.json written last: its presence means complete (VAE weight hash, seed, count, sha256)
While running: latents.partial.npy + progress.json. Batches are written in order; every
`chunk_batches` batches the memmap is flushed and fsynced *before* progress.json is atomically
advanced, so a killed run resumes at the last complete chunk and never over-claims.
The posterior sample of the batch starting at row s uses a generator seeded (seed, s), so a
resumed run produces the same bytes as an uninterrupted one (for the same batch size).
`with_flips` appends encodings of the mirrored images (rows N..2N-1): the LSUN 240K
"church256_flip" set of the LCT code. Flipping latents is not the same as flipping images.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from repro.io import ReproError, atomic_write_bytes, atomic_write_json, sha256_file

from .paths import data_root
from .prepare import load_prepared

SCALE = 0.18215
FORMAT_VERSION = 1


def latent_dir(name: str, root=None) -> Path:
    return data_root(root) / name / "latents"


def _latent_shape(vae, res: int):
    cfg = vae.config
    f = 2 ** (len(cfg.block_out_channels) - 1)
    return (cfg.latent_channels, res // f, res // f)


def _to_model_input(raw: np.ndarray, flip: np.ndarray, device, dtype) -> torch.Tensor:
    x = torch.from_numpy(raw).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    m = torch.from_numpy(flip)
    x[m] = x[m].flip(-1)
    return x.to(device=device, dtype=dtype)


def encode_dataset(name: str, root=None, batch_size: int = 32, vae=None, vae_hash=None,
                   seed: int = 0, with_flips: bool = False, chunk_batches: int = 8,
                   progress: bool = True) -> Path:
    """Encode prepared `name` into its latent cache (resumable); returns the cache dir."""
    from tqdm import tqdm

    from .vae import load_vae, module_hash, vae_weights_hash
    images, _, pmanifest = load_prepared(name, root)
    if vae is None:
        vae, vae_hash = load_vae(), vae_weights_hash()
    vae_hash = vae_hash or module_hash(vae)
    param = next(vae.parameters())
    n = len(images)
    total = 2 * n if with_flips else n
    shape = (total,) + _latent_shape(vae, images.shape[1])
    key = {"format_version": FORMAT_VERSION, "vae_sha256": vae_hash, "seed": seed,
           "batch_size": batch_size, "count": total, "with_flips": with_flips,
           "images_sha256": pmanifest["images_sha256"], "shape": list(shape)}
    out = latent_dir(name, root)
    if _read_json(out / "manifest.json").get("key") == key and (out / "latents.npy").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("manifest.json", "latents.npy", "stats.npz"):   # a different key: redo
        if (out / stale).exists():
            (out / stale).unlink()
    partial, prog = out / "latents.partial.npy", out / "progress.json"
    state = _read_json(prog)
    if state.get("key") == key and partial.is_file():
        done = int(state["done"])
        arr = np.load(partial, mmap_mode="r+")
    else:
        done = 0
        arr = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
    bar = tqdm(total=total, initial=done, desc=f"encode {name}", unit="img", disable=not progress)
    since = 0
    with torch.no_grad():
        for start in range(done, total, batch_size):
            rows = np.arange(start, min(start + batch_size, total))
            x = _to_model_input(images[rows % n], rows >= n, param.device, param.dtype)
            g = torch.Generator(device=param.device).manual_seed(seed * 1_000_003 + int(start))
            z = vae.encode(x).latent_dist.sample(generator=g) * SCALE
            arr[rows[0]:rows[-1] + 1] = z.float().cpu().numpy()
            bar.update(len(rows))
            since += 1
            if since == chunk_batches or rows[-1] + 1 == total:
                _commit(arr, partial, prog, key, int(rows[-1]) + 1)
                since = 0
    bar.close()
    _finish(arr, out, partial, prog, key)
    return out


def _commit(arr, partial: Path, prog: Path, key: dict, done: int) -> None:
    arr.flush()
    with open(partial, "rb+") as f:
        os.fsync(f.fileno())
    atomic_write_json(prog, {"key": key, "done": done})


def _finish(arr, out: Path, partial: Path, prog: Path, key: dict) -> None:
    s1 = np.zeros(arr.shape[1:], np.float64)
    s2 = np.zeros(arr.shape[1:], np.float64)
    for i in range(0, len(arr), 4096):          # float64 sums in chunks: exact enough, bounded RAM
        z = arr[i:i + 4096].astype(np.float64) / SCALE
        s1 += z.sum(0)
        s2 += (z * z).sum(0)
    mean = s1 / len(arr)
    std = np.sqrt(np.maximum(s2 / len(arr) - mean * mean, 0.0))
    del arr
    buf = io.BytesIO()
    np.savez(buf, mean=mean.astype(np.float32), std=std.astype(np.float32))
    atomic_write_bytes(out / "stats.npz", buf.getvalue())
    os.replace(partial, out / "latents.npy")
    atomic_write_json(out / "manifest.json", {
        "key": key, "latents_sha256": sha256_file(out / "latents.npy"),
        "stats": "mean/std over latents/0.18215, population std"})
    prog.unlink()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load_latents(name: str, root=None):
    """(latents memmap float32 (M,4,32,32), labels or None, {'mean','std'}, manifest)."""
    out = latent_dir(name, root)
    manifest = _read_json(out / "manifest.json")
    if not manifest:
        raise ReproError(f"{out / 'manifest.json'}: no complete latent cache for {name}; run "
                         f"`REPRO_DATA={data_root(root)} repro data encode {name}`")
    try:
        lat = np.load(out / "latents.npy", mmap_mode="r")
        with np.load(out / "stats.npz", allow_pickle=False) as s:
            stats = {"mean": s["mean"], "std": s["std"]}
    except (OSError, ValueError, KeyError) as e:
        raise ReproError(f"{out}: latent cache unreadable ({str(e).splitlines()[0][:100]}); delete "
                         f"{out} and re-run `repro data encode {name}`") from None
    if list(lat.shape) != list(manifest["key"].get("shape", lat.shape)):
        raise ReproError(f"{out / 'latents.npy'}: shape {tuple(lat.shape)} != manifest "
                         f"{tuple(manifest['key']['shape'])}; delete {out} and re-run "
                         f"`repro data encode {name}`")
    # Labels come from the prepared set; read them without touching images.npy.
    pm = _read_json(data_root(root) / name / "manifest.json")
    labels = np.load(data_root(root) / name / "labels.npy") if pm.get("labels") else None
    if labels is not None and manifest["key"].get("with_flips"):
        labels = np.concatenate([labels, labels])
    return lat, labels, stats, manifest


def decode_latents(z: torch.Tensor, vae, batch_size: int = 16) -> torch.Tensor:
    """Unscaled latents (z/0.18215 space) → uint8 images (B, H, W, 3) on the CPU, batched."""
    param = next(vae.parameters())
    outs = []
    with torch.no_grad():
        for i in range(0, len(z), batch_size):
            img = vae.decode(z[i:i + batch_size].to(param.device, param.dtype)).sample
            outs.append(((img.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
                        .permute(0, 2, 3, 1).cpu())
    return torch.cat(outs) if outs else torch.empty(0, dtype=torch.uint8)
