"""One sLCT training step, repro's path vs an LCT-style fp32 path, side by side in one process.

    python benchmarks/train_step.py [--device auto|cpu|cuda] [--batch B] [--steps N] [--warmup W]
                                    [--small] [--threads T] [--lct-emas]

Network and loss: row `slct/t1/celebahq/ours/nfe1` (sLCT CelebA-HQ: ADM UNet with NsLN, ~158 M
params; Cauchy loss, adaptive c, diffusion term r=0.25, OT coupling). `--small` swaps in a tiny
UNet (same layers, 32 channels, 1 block per level) for a quick run. Batch = the per-GPU batch;
128 on CUDA (the paper's CelebA batch on one GPU), 4 on CPU unless --batch is given.

One step = data gather, draws, OT coupling, student forward + backward, teacher forward (no grad),
optimiser step, EMA update. Both paths start from the same initial weights and see the same
batches and draws (seeded per step), so their losses agree step for step (printed as a check).

(a) ours: `repro.train.loop._make_step` built exactly as `train_row` builds it
    (`loop.apply_runtime`: channels_last + TF32 (+ torch.compile if --compile) on CUDA;
    bf16 autocast on CUDA only if RuntimeSpec.bf16 (default off: fp32 + TF32 as LCT); RAdam foreach on CUDA, per-tensor on CPU (build.build_optimizer); one `_foreach_lerp_` per EMA rate; the loss stays on
    the device — train_row's on-device NaN guard and loss sum are included — no host sync).
(b) LCT-style, configured like quandao10/LCT's train_cm_latent.py: fp32 (TF32 on CUDA), no
    channels_last, `torch.optim.RAdam(foreach=False)`, a separate teacher copy refreshed every
    step with update_ema(decay=0), EMA updated per parameter in a Python loop
    (`ema.mul_(d).add_(p, alpha=1-d)`), `torch.isnan(loss)` check and `loss.item()` (plus the two
    loss terms) every step, OT as `ot.emd` on the torch.cdist² cost followed by drawing the pairs
    from the flattened plan with `np.random.choice(..., replace=False)`.
    The same math: the same network, loss, pairs and optimiser update rule.

Timing: per step, wall clock (CUDA synchronised at the end of each step), interleaved ours/LCT
so machine load hits both alike; median of N after W warm-up steps. The ratio is printed last:
`speedup = lct_style / ours`.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from repro.core.objective import ConsistencyLoss  # noqa: E402
from repro.nn.ema import EMA  # noqa: E402
from repro.specs import ModelSpec  # noqa: E402
from repro.train import build, loop  # noqa: E402

ROW = "slct/t1/celebahq/ours/nfe1"
TINY = ModelSpec(arch="adm", img_resolution=32, in_channels=4, out_channels=4, model_channels=32,
                 channel_mult=(1, 2), channel_mult_emb=4, num_blocks=1, attn_resolutions=(16,),
                 channels_per_head=32, dropout=0.0, norm="ns_layernorm", last_norm="ns_layernorm",
                 embedding="positional")


class Latents:
    """An in-memory stand-in for the latent train set: (N, 4, 32, 32) float32 in model space."""

    def __init__(self, n: int, shape=(4, 32, 32), seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn((n,) + tuple(shape), generator=g) * 0.5
        self.shape = tuple(shape)

    def __len__(self):
        return len(self.x)

    def batch(self, indices, flip_mask=None):
        x = self.x[indices]
        if flip_mask is not None:
            x = torch.where(flip_mask[:, None, None, None], x.flip(-1), x)
        return x, None


def load(small: bool):
    from repro.rows import load_row

    row = load_row(ROW)
    if small:
        row = dataclasses.replace(row, model=TINY)
    return row


def lct_ot(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """LCT's OTPlanSampler(method='exact', normalize_cost=True).sample_plan(replace=False), written
    anew: cdist² cost / max, ot.emd with uniform marginals, pairs drawn from the flattened plan
    without replacement. Returns z reordered so it pairs with x0 in place (same pairs)."""
    import ot

    b = x0.shape[0]
    m = torch.cdist(x0.reshape(b, -1), z.reshape(b, -1)) ** 2
    m = m / m.max()
    w = ot.unif(b)
    pi = ot.emd(w, w, m.detach().cpu().numpy())
    p = pi.flatten()
    p = p / p.sum()
    choice = np.random.choice(b * b, p=p, size=b, replace=False)
    i, j = np.divmod(choice, b)
    zj = np.empty(b, dtype=np.int64)
    zj[i] = j
    return z[torch.from_numpy(zj).to(z.device)]


@torch.no_grad()
def update_ema_lct(ema_model, model, decay):
    """LCT's update_ema: one mul_/add_ pair per named parameter."""
    ema_params = OrderedDict(ema_model.named_parameters())
    for name, p in model.named_parameters():
        ema_params[name].mul_(decay).add_(p.data, alpha=1 - decay)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def build_ours(row, data, dev, batch, compile_=False):
    """repro's step, built with the same calls as train_row (returns run(step) -> loss tensor)."""
    rt = dataclasses.replace(row.runtime, compile=compile_)
    row = dataclasses.replace(row, runtime=rt)
    torch.manual_seed(0)
    f = build.build_function(row).to(dev)
    fwd = loop.apply_runtime(f, rt, dev)
    opt = build.build_optimizer(row, f.parameters(), fused=rt.fused_optim and dev.type == "cuda")
    ema = EMA(f, row.train.ema_rates)
    objective = build.build_objective(row)
    dim = build.data_dim(data.shape)
    total = row.total_steps
    step_fn = loop._make_step(row, f, fwd, opt, ema, objective, data, dim, total, dev, 0, 1, batch, batch)
    state = {"sum": torch.zeros((), device=dev), "bad": torch.full((), -1, dtype=torch.long, device=dev)}

    def run(step, idx):
        loss = step_fn(step, idx)
        finite = torch.isfinite(loss)      # train_row's per-step bookkeeping, on device
        state["bad"] = torch.where((state["bad"] < 0) & ~finite, torch.tensor(step, device=dev), state["bad"])
        state["sum"] += torch.where(finite, loss.detach(), torch.zeros_like(loss))
        return loss

    return run, f


def build_lct(row, data, dev, batch, ema_rates):
    """The LCT-style fp32 step (see module docstring)."""
    torch.manual_seed(0)
    f = build.build_function(row).to(dev)              # fp32, contiguous
    target = copy.deepcopy(f).requires_grad_(False)
    emas = {r: copy.deepcopy(f).requires_grad_(False) for r in ema_rates}
    o = row.optim
    opt = torch.optim.RAdam(f.parameters(), lr=o.lr, betas=tuple(o.betas), eps=o.eps,
                            weight_decay=o.weight_decay, foreach=False)
    objective = ConsistencyLoss.from_spec(row.loss)
    if row.loss.coupling == "ot":
        objective.coupling = lct_ot
    dim = build.data_dim(data.shape)
    total = row.total_steps
    np.random.seed(0)
    running = [0.0]

    def student_or_teacher(x, sigma, labels=None):
        # The objective calls the teacher under no_grad: LCT evaluates its target_model there.
        return f(x, sigma, labels) if torch.is_grad_enabled() else target(x, sigma, labels)

    def run(step, idx):
        g = torch.Generator(device=dev).manual_seed(loop._mix(row.train.seed, 2, step))
        n = build.n_at(row, step, total)
        c = build.c_at(row, n, dim)
        x0, _ = data.batch(idx)
        x0 = x0.to(dev)
        draws = objective.draw(len(x0), n, g, like=x0)
        torch.manual_seed(loop._mix(row.train.seed, 3, step, 0))
        loss, stats = objective(student_or_teacher, x0, n, c, g, draws=draws)
        if not torch.isnan(loss):                      # host sync, as LCT
            opt.zero_grad()
            loss.backward()
            opt.step()
            running[0] += loss.item() + stats["ct"].item() + stats["diff"].item()
        for r, m in emas.items():
            update_ema_lct(m, f, r)
        update_ema_lct(target, f, 0.0)
        return loss.detach()

    return run, f


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=0, help="per-GPU batch (default: 128 on CUDA, 4 on CPU)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per path (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="tiny UNet instead of the 158 M-param one")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--compile", action="store_true", help="ours with RuntimeSpec.compile=True (CUDA only)")
    ap.add_argument("--lct-emas", action="store_true",
                    help="LCT-style path tracks LCT's 7 EMA rates instead of the row's (not the same math)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = loop.resolve_device(args.device)
    batch = args.batch or (128 if dev.type == "cuda" else 4)
    row = load(args.small)
    data = Latents(max(4 * batch, 64))
    rates = ((0.999, 0.9999, 0.99993, 0.99994, 0.99995, 0.99997, 0.9999432189950708)
             if args.lct_emas else row.train.ema_rates)

    ours, f_ours = build_ours(row, data, dev, batch, compile_=args.compile)
    lct, f_lct = build_lct(row, data, dev, batch, rates)
    nparam = sum(p.numel() for p in f_ours.parameters())
    rt = row.runtime
    print(f"row {ROW}{' (--small: tiny UNet)' if args.small else ''}: {nparam / 1e6:.1f} M params, "
          f"per-GPU batch {batch}{' (reduced for CPU; the paper uses 128)' if dev.type == 'cpu' and batch < 128 else ''}, "
          f"device {dev}{'' if dev.type == 'cuda' else f' ({torch.get_num_threads()} threads)'}, "
          f"loss {row.loss.distance} + diff r={row.loss.diff_r}, coupling {row.loss.coupling}, "
          f"EMA rates ours {row.train.ema_rates} / lct {rates}")
    on_cuda = dev.type == "cuda"
    print(f"ours: bf16 autocast {rt.bf16 and on_cuda}, channels_last {rt.channels_last and on_cuda}, "
          f"TF32 {rt.tf32 and on_cuda}, compile {args.compile and on_cuda}, "
          f"RAdam {'foreach' if on_cuda else 'per-tensor (build_optimizer: foreach on CUDA only)'}, EMA _foreach_lerp_, "
          f"no per-step host sync | lct-style: fp32{' + TF32' if on_cuda else ''}, RAdam(foreach=False), "
          f"per-parameter EMA loop + teacher copy, isnan + .item() every step, ot.emd + np.random.choice")

    step0 = row.total_steps // 2          # mid-training N(k)
    t_ours, t_lct, l_ours, l_lct = [], [], [], []
    for k in range(args.warmup + args.steps):
        step = step0 + k
        idx = torch.arange(k * batch, (k + 1) * batch) % len(data)
        dts = {}
        for name, fn, times, losses in (("ours", ours, t_ours, l_ours), ("lct", lct, t_lct, l_lct)):
            _sync(dev)
            t0 = time.perf_counter()
            loss = fn(step, idx)
            _sync(dev)
            dts[name] = dt = time.perf_counter() - t0
            losses.append(loss)
            if k >= args.warmup:
                times.append(dt)
        print(f"  step {k}{' (warm-up)' if k < args.warmup else ''}: ours {dts['ours'] * 1e3:.1f} ms, "
              f"lct-style {dts['lct'] * 1e3:.1f} ms", flush=True)

    lo = [float(x) for x in l_ours]
    ll = [float(x) for x in l_lct]
    rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(lo, ll))
    print(f"same math check: step losses ours {[f'{x:.5g}' for x in lo]} vs lct-style {[f'{x:.5g}' for x in ll]}; "
          f"first step rel diff {abs(lo[0] - ll[0]) / max(abs(ll[0]), 1e-12):.2e}, max {rel:.2e}"
          f"{' (bf16 autocast on CUDA)' if on_cuda and rt.bf16 else ''}")
    mo, ml = statistics.median(t_ours), statistics.median(t_lct)
    print(f"ours      : {mo * 1e3:9.1f} ms/step  (median of {len(t_ours)}; min {min(t_ours) * 1e3:.1f}, "
          f"max {max(t_ours) * 1e3:.1f}), {batch / mo:.2f} samples/s")
    print(f"lct-style : {ml * 1e3:9.1f} ms/step  (median of {len(t_lct)}; min {min(t_lct) * 1e3:.1f}, "
          f"max {max(t_lct) * 1e3:.1f}), {batch / ml:.2f} samples/s")
    print(f"speedup = lct_style / ours = {ml / mo:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
