"""CPU forward+backward time of the tiny networks, per architecture and normalisation.

    python benchmarks/nn_forward.py [--batch 8] [--res 16] [--iters 5] [--threads N]

Tiny config: model_channels 32, channel_mult (1,2), 1 block per level, attention at res/2,
4 input channels (a 16×16×4 "latent"). Prints one line per model (median of --iters timed
runs after one warm-up), then a summary: each norm's time relative to GroupNorm.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from repro.nn import build_network  # noqa: E402
from repro.nn.norms import NORMS  # noqa: E402
from repro.specs import ModelSpec  # noqa: E402


def tiny(arch: str, norm: str, res: int) -> ModelSpec:
    return ModelSpec(arch=arch, img_resolution=res, in_channels=4, out_channels=4, model_channels=32,
                     channel_mult=(1, 2), num_blocks=1, attn_resolutions=(res // 2,), channel_mult_emb=2,
                     norm=norm, last_norm=norm, embedding="fourier" if arch == "ncsnpp" else "positional",
                     fourier_scale=0.02, dropout=0.0)


def time_fwd_bwd(net, x, c, iters: int) -> float:
    times = []
    for i in range(iters + 1):
        t0 = time.perf_counter()
        net(x, c).square().mean().backward()
        net.zero_grad(set_to_none=True)
        if i:  # the first run is a warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--res", type=int, default=16)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 4, args.res, args.res)
    c = 250 * torch.log(torch.rand(args.batch) * 80 + 0.002)

    print(f"CPU fwd+bwd, batch {args.batch}, {args.res}x{args.res}x4, {torch.get_num_threads()} threads, "
          f"median of {args.iters}")
    results = {}
    for arch in ("adm", "ncsnpp"):
        for norm in NORMS:
            net = build_network(tiny(arch, norm, args.res))
            n = sum(p.numel() for p in net.parameters())
            results[arch, norm] = t = time_fwd_bwd(net, x, c, args.iters)
            print(f"  {arch:7s} {norm:13s} {n / 1e6:6.3f} M params  {t * 1e3:8.1f} ms")
    print("summary (time / GN time): " + "; ".join(
        f"{arch}: " + ", ".join(f"{norm} {results[arch, norm] / results[arch, 'gn']:.2f}" for norm in NORMS)
        for arch in ("adm", "ncsnpp")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
