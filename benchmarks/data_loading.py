"""Loader throughput vs. what a training step consumes.

Builds throw-away caches in a temp dir (CIFAR-10 shape: 50,000×32×32×3 uint8 pixels; CelebA
latent shape: 27,000×4×32×32 float32), draws random index batches like the training loop does,
and prints samples/s of `TrainSet.batch`. If `repro.nn.build_network` exists, it also times a
fwd+bwd of a small network at the same batch and prints loader/step as the last column: a
ratio well above 1 means data loading is not the bottleneck.

    python benchmarks/data_loading.py [--batch 128] [--iters 50] [--small]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from repro.data import open_train_set
from repro.io import atomic_write_json
from repro.specs import DataSpec


def make_cifar(root: Path, n: int) -> DataSpec:
    d = root / "cifar10"
    d.mkdir(parents=True)
    arr = np.lib.format.open_memmap(d / "images.npy", "w+", np.uint8, (n, 32, 32, 3))
    rng = np.random.default_rng(0)
    for i in range(0, n, 10_000):
        arr[i:i + 10_000] = rng.integers(0, 256, size=arr[i:i + 10_000].shape, dtype=np.uint8)
    arr.flush()
    np.save(d / "labels.npy", rng.integers(0, 10, n))
    atomic_write_json(d / "manifest.json", {"shape": [n, 32, 32, 3], "labels": True})
    return DataSpec("cifar10", resolution=32, num_classes=10)


def make_latents(root: Path, n: int) -> DataSpec:
    d = root / "celebahq256"
    (d / "latents").mkdir(parents=True)
    atomic_write_json(d / "manifest.json", {"labels": False})
    arr = np.lib.format.open_memmap(d / "latents" / "latents.npy", "w+", np.float32,
                                    (n, 4, 32, 32))
    rng = np.random.default_rng(0)
    for i in range(0, n, 4096):
        arr[i:i + 4096] = rng.standard_normal(arr[i:i + 4096].shape, dtype=np.float32)
    arr.flush()
    np.savez(d / "latents" / "stats.npz", mean=np.zeros((4, 32, 32), np.float32),
             std=np.ones((4, 32, 32), np.float32))
    (d / "latents" / "manifest.json").write_text(json.dumps({"key": {"with_flips": False}}))
    return DataSpec("celebahq256", resolution=256, latent=True)


def loader_rate(spec, root, batch, iters) -> float:
    ds = open_train_set(spec, root)
    g = torch.Generator().manual_seed(0)
    ds.batch(torch.randint(0, len(ds), (batch,), generator=g))          # warm-up
    t = time.perf_counter()
    for _ in range(iters):
        ds.batch(torch.randint(0, len(ds), (batch,), generator=g))
    return batch * iters / (time.perf_counter() - t)


def step_rate(shape, batch, iters=3):
    try:
        from repro.nn import build_network
        from repro.specs import ModelSpec
    except ImportError:
        return None
    c, h, _ = shape
    net = build_network(ModelSpec(arch="adm", img_resolution=h, in_channels=c, out_channels=c,
                                  model_channels=32, channel_mult=(1, 2), num_blocks=1,
                                  attn_resolutions=(), dropout=0.0))
    x = torch.randn(batch, *shape)
    noise = torch.zeros(batch)
    net(x, noise).square().mean().backward()                            # warm-up
    t = time.perf_counter()
    for _ in range(iters):
        net(x, noise).square().mean().backward()
    return batch * iters / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--small", action="store_true", help="5,000-row caches (quick check)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = [("cifar10 pixels 3x32x32 uint8", make_cifar(root, 5000 if a.small else 50_000)),
                 ("celebahq latents 4x32x32 f32", make_latents(root, 5000 if a.small else 27_000))]
        print(f"{'set':32s} {'loader samples/s':>17s} {'train step samples/s':>21s} {'ratio':>7s}")
        for label, spec in specs:
            lr = loader_rate(spec, root, a.batch, a.iters)
            sr = step_rate(open_train_set(spec, root).shape, a.batch)
            tail = f"{sr:21.0f} {lr / sr:7.1f}" if sr else f"{'(no repro.nn)':>21s} {'-':>7s}"
            print(f"{label:32s} {lr:17.0f} {tail}")


if __name__ == "__main__":
    main()
