"""Evaluation throughput on this machine: generate (sampler + decode) and features (clean-fid path).

Uses a small ADM UNet from repro.nn when it is importable (else a tiny conv net) wrapped as a
consistency function, and a small random conv extractor through clean-fid's feature loop
(real Inception weights are not needed, so it runs offline; on CPU the real Inception is far
slower than this stand-in). Prints samples/s and the projected time for 50K samples; the last
line is the figure.

    python benchmarks/eval_throughput.py [--num 256] [--batch 64] [--nfe 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repro.eval.fid import FeatureExtractor, cleanfid_features  # noqa: E402
from repro.eval.sample import sample_batches, to_uint8  # noqa: E402


def small_model(res: int):
    try:
        from repro.core.precond import Consistency
        from repro.nn import build_network
        from repro.specs import ModelSpec
        spec = ModelSpec(arch="adm", img_resolution=res, in_channels=3, out_channels=3,
                         model_channels=32, channel_mult=(1, 2), num_blocks=1,
                         attn_resolutions=(), channels_per_head=32, dropout=0.0)
        return Consistency(build_network(spec)).eval(), "repro.nn ADM (32 ch, 1 block, 2 levels)"
    except Exception as e:           # repro.nn absent or incompatible: fall back to a conv net
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.SiLU(),
                                  torch.nn.Conv2d(32, 3, 3, padding=1))
        return (lambda x, s, c=None: torch.tanh(net(x / (1 + s.view(-1, 1, 1, 1))))), \
            f"conv net ({type(e).__name__})"


def random_extractor(dim=64):
    g = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(16, 3, 3, 3, generator=g) * 0.1, torch.randn(dim, 16, 3, 3, generator=g) * 0.1

    def fn(x):
        h = torch.nn.functional.conv2d(x / 128 - 1, w1, stride=2, padding=1).relu()
        return torch.nn.functional.conv2d(h, w2, stride=2, padding=1).mean((2, 3))
    return FeatureExtractor(fn, "random-conv", "legacy_tensorflow")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--nfe", type=int, default=1)
    ap.add_argument("--mode", default="legacy_tensorflow",
                    help="clean-fid resize mode for the feature pass (legacy_pytorch/clean resize to 299)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    f, what = small_model(a.res)
    if hasattr(f, "to"):
        f = f.to(a.device)
    sigmas = [80.0, 0.821, 0.3][: a.nfe]
    shape = (3, a.res, a.res)

    import cleanfid.fid  # noqa: F401  (import time, ~seconds, is not throughput)
    ext = random_extractor()
    list(sample_batches(f, 2, 2, shape, sigmas, 0, a.device))           # warm-up
    cleanfid_features([np.zeros((2, a.res, a.res, 3), np.uint8)], 2, ext, 2, a.device, mode=a.mode)

    t0 = time.perf_counter()
    imgs = [to_uint8(x).numpy() for x in sample_batches(f, a.num, a.batch, shape, sigmas, 42, a.device)]
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = cleanfid_features(iter(imgs), a.num, ext, a.batch, a.device, mode=a.mode)
    t_feat = time.perf_counter() - t0
    assert feats.shape[0] == a.num and np.isfinite(feats).all()

    total = t_gen + t_feat
    print(f"model: {what}; extractor: random conv via clean-fid mode {a.mode}; device {a.device}; "
          f"torch threads {torch.get_num_threads()}")
    print(f"generate: {a.num / t_gen:8.1f} samples/s  ({a.nfe} NFE, {a.res}x{a.res}, batch {a.batch})")
    print(f"features: {a.num / t_feat:8.1f} samples/s")
    print(f"end to end: {a.num / total:.1f} samples/s; projected 50K: {50_000 * total / a.num / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
