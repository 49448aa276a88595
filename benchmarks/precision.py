"""bf16 autocast vs fp32 for the sLCT consistency loss and its gradient, per discretisation N.

    python benchmarks/precision.py [--width 32] [--batch 16] [--batches 4]
                                   [--n 11 81 321 641 1281] [--threads 1] [--device cpu]

Network and loss: row slct/t1/celebahq/ours/nfe1 (ADM UNet with NsLN, Cauchy loss, adaptive c,
diffusion term r = 0.25, OT coupling), the UNet at model_channels = --width (depth, levels and
attention as the paper's), 32x32x4 latents. Weights: the row's initialisation, except that the
layers EDM initialises to zero (each block's conv1, the attention projections, the output conv)
are redrawn uniformly in ±1/sqrt(fan_in), and all-zero biases (theirs and the NsLN β) get
N(0, 0.1²): with zero layers the
network output is identically 0 and only the last layer gets a gradient, which would say nothing
about bf16 inside the network.

For each N and each batch (x0 ~ 0.5·N(0, I), fixed seeds), repro's objective
(`repro.train.build.build_objective`, called as `loop._make_step` calls it, with c = c(N) from
`build.c_at`) runs twice on identical inputs and identical draws (pair indices, noise; the OT
coupling therefore pairs alike): once in fp32, once under torch.autocast(bfloat16) on the
device. Weights and inputs are channels_last in both runs, as the training loop runs on CUDA
(RuntimeSpec.channels_last); on a CPU without native bf16 this also moves bf16 convolutions
from torch's slow reference kernel to oneDNN (about 4x faster here; --contiguous to compare). Reported per N, mean and worst over batches: the relative error of the loss
|L_bf16 − L_fp32| / |L_fp32|, and the cosine similarity and relative L2 error of the full
gradient vector (all parameters), bf16 vs fp32. For scale, the cosine between the fp32 gradients
of consecutive batches (ordinary minibatch noise) is printed beside them.

N = 11..641 are the sLCT curriculum's steps (s0 = 10, s1 = 640); 1281 is iCT's last.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

ROW = "slct/t1/celebahq/ours/nfe1"


def make_row(width: int):
    from repro.rows import load_row

    row = load_row(ROW)
    return dataclasses.replace(row, model=dataclasses.replace(row.model, model_channels=width))


@torch.no_grad()
def unzero(f: torch.nn.Module, seed: int = 0) -> int:
    """Redraw all-zero parameters so every layer carries signal (see module docstring)."""
    g = torch.Generator().manual_seed(seed)
    n = 0
    for name, p in f.named_parameters():
        if bool((p == 0).all()):
            if name.endswith("weight") and p.ndim >= 2:
                b = 1.0 / math.sqrt(p[0].numel())
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * b)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            n += 1
    return n


def loss_and_grad(f, objective, x0, n, c, draws, dev, bf16: bool, seed: int):
    f.zero_grad(set_to_none=True)
    torch.manual_seed(seed)            # dropout (0 here) and anything else drawing from the global RNG
    ctx = torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else torch.autocast(dev.type, enabled=False)
    with ctx:
        loss, stats = objective(f, x0, n, c, None, draws=draws)
    loss.backward()
    grad = torch.cat([p.grad.detach().double().flatten() for p in f.parameters() if p.grad is not None])
    return float(loss.detach()), grad, stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--n", type=int, nargs="+", default=[11, 81, 321, 641, 1281])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--contiguous", action="store_true", help="NCHW instead of channels_last")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    from repro.train import build

    t_start = time.perf_counter()
    row = make_row(a.width)
    f = build.initial_function(row).to(dev)
    redrawn = unzero(f)
    fmt = torch.contiguous_format if a.contiguous else torch.channels_last
    f.to(memory_format=fmt)
    objective = build.build_objective(row)
    shape = (row.model.in_channels, row.model.img_resolution, row.model.img_resolution)
    dim = build.data_dim(shape)
    nparam = sum(p.numel() for p in f.parameters())
    print(f"row {ROW}, model_channels {a.width}: {nparam / 1e6:.2f} M params ({redrawn} zero-initialised tensors "
          f"redrawn), {shape} latents, batch {a.batch}, {a.batches} batches per N, device {dev}"
          f"{'' if dev.type == 'cuda' else f' ({torch.get_num_threads()} threads)'}, "
          f"{'NCHW' if a.contiguous else 'channels_last'}; loss {row.loss.distance}, "
          f"diff r={row.loss.diff_r}, coupling {row.loss.coupling}", flush=True)
    print("| N | c(N) | loss fp32 (mean) | loss rel. err. mean / worst | grad cosine mean / worst "
          "| grad rel. L2 err. mean / worst | fp32 grad cosine, consecutive batches (mean) "
          "| diff-term samples (mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in a.n:
        c = build.c_at(row, n, dim)
        rel, cos, gerr, losses, ndiff, between = [], [], [], [], [], []
        prev = None
        for b in range(a.batches):
            g = torch.Generator().manual_seed(1000 * n + b)
            x0 = (torch.randn((a.batch,) + shape, generator=g) * 0.5).to(dev).contiguous(memory_format=fmt)
            gd = torch.Generator(device=dev).manual_seed(2000 * n + b)
            draws = objective.draw(a.batch, n, gd, like=x0)
            l32, g32, st = loss_and_grad(f, objective, x0, n, c, draws, dev, False, b)
            l16, g16, _ = loss_and_grad(f, objective, x0, n, c, draws, dev, True, b)
            rel.append(abs(l16 - l32) / abs(l32))
            cos.append(float(torch.dot(g16, g32) / (g16.norm() * g32.norm())))
            gerr.append(float((g16 - g32).norm() / g32.norm()))
            losses.append(l32)
            ndiff.append(int(st["n_diff"]))
            if prev is not None:      # scale of reference: how much two fp32 minibatch gradients differ
                between.append(float(torch.dot(prev, g32) / (prev.norm() * g32.norm())))
            prev = g32
        print(f"| {n} | {c:.4g} | {statistics.mean(losses):.4g} | {statistics.mean(rel):.2e} / {max(rel):.2e} "
              f"| {statistics.mean(cos):.6f} / {min(cos):.6f} | {statistics.mean(gerr):.2e} / {max(gerr):.2e} "
              f"| {statistics.mean(between) if between else float('nan'):.3f} "
              f"| {statistics.mean(ndiff):.1f} of {a.batch} |", flush=True)
    print(f"wall {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
