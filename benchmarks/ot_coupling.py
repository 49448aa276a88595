"""Minibatch OT coupling time (sLCT §4.4) at per-GPU batches 32/128/256 on 32×32×4 latents.

    python benchmarks/ot_coupling.py [--batches 32 128 256] [--trials 9] [--step-ms MS]
                                     [--step-batches 2 4] [--step-steps 2] [--threads T]

Solvers, all through the full coupling (cost matrix + solve + permute):
  emd      repro.core.coupling.ot_coupling(solver='emd')   POT ot.emd, argmax of the plan
  lsa      repro.core.coupling.ot_coupling(solver='lsa')   scipy linear_sum_assignment (the default)
  lct      LCT's OTPlanSampler route (benchmarks/train_step.lct_ot): cdist², ot.emd, then
           np.random.choice over the B² plan entries without replacement
Each trial draws fresh random inputs (x0 ~ 0.5·N(0,1), unit z) and checks that emd and lsa give
the same permutation (agreement count printed). Times are medians over the trials.

OT as a fraction of a training step at the paper's per-GPU batch (128, CelebA): the step time is
`--step-ms` if given (e.g. a GPU measurement from benchmarks/train_step.py), otherwise repro's sLCT
step (158 M params, benchmarks/train_step.build_ours) is measured on this machine at two small
batches and extrapolated linearly (t(B) = a + b·B) to each batch. The fraction is printed last.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from repro.core.coupling import ot_coupling  # noqa: E402

PAPER_BATCH = 128


def time_solvers(batch: int, trials: int, seed: int = 0):
    from train_step import lct_ot

    g = torch.Generator().manual_seed(seed + batch)
    np.random.seed(seed)
    times = {"emd": [], "lsa": [], "lct": []}
    agree = 0
    for _ in range(trials):
        x0 = torch.randn(batch, 4, 32, 32, generator=g) * 0.5
        z = torch.randn(batch, 4, 32, 32, generator=g)
        out = {}
        for name, fn in (("emd", lambda: ot_coupling(x0, z, "emd")), ("lsa", lambda: ot_coupling(x0, z, "lsa")),
                         ("lct", lambda: lct_ot(x0, z))):
            t0 = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - t0)
        agree += bool(torch.equal(out["emd"], out["lsa"]))
        assert torch.equal(out["emd"], out["lct"]) or _same_cost(x0, out["emd"], out["lct"])
    return {k: statistics.median(v) for k, v in times.items()}, agree


def _same_cost(x0, a, b) -> bool:
    ca = float(((x0.double() - a.double()) ** 2).sum())
    cb = float(((x0.double() - b.double()) ** 2).sum())
    return abs(ca - cb) <= 1e-9 * abs(ca)


def measure_step(batches, steps: int) -> dict:
    """Median ms of repro's sLCT step (full network, CPU) at each batch."""
    from train_step import Latents, build_ours, load

    row = load(False)
    dev = torch.device("cpu")
    out = {}
    for b in batches:
        data = Latents(max(4 * b, 64))
        run, _ = build_ours(row, data, dev, b)
        ts = []
        for k in range(steps + 1):
            idx = torch.arange(k * b, (k + 1) * b) % len(data)
            t0 = time.perf_counter()
            run(row.total_steps // 2 + k, idx)
            if k:
                ts.append(time.perf_counter() - t0)
        out[b] = statistics.median(ts) * 1e3
        print(f"  step (ours, CPU, full sLCT UNet) at batch {b}: {out[b]:.0f} ms (median of {steps})", flush=True)
        del run
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128, 256])
    ap.add_argument("--trials", type=int, default=9)
    ap.add_argument("--step-ms", type=float, default=None,
                    help="training-step time at batch 128 in ms (skips measuring it here)")
    ap.add_argument("--step-batches", type=int, nargs=2, default=[2, 4])
    ap.add_argument("--step-steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"OT coupling on 32x32x4 latents, median of {args.trials} trials, {torch.get_num_threads()} torch threads")
    res = {}
    for b in args.batches:
        t, agree = time_solvers(b, args.trials)
        res[b] = t
        print(f"  batch {b:4d}: emd {t['emd'] * 1e3:8.2f} ms | lsa {t['lsa'] * 1e3:8.2f} ms | "
              f"lct (emd + np.random.choice) {t['lct'] * 1e3:8.2f} ms | emd/lsa {t['emd'] / t['lsa']:.2f}x | "
              f"emd == lsa permutation in {agree}/{args.trials} trials", flush=True)

    if args.step_ms is not None:
        step = {b: args.step_ms * b / PAPER_BATCH for b in args.batches}
        how = f"--step-ms {args.step_ms:g} at batch {PAPER_BATCH}, scaled linearly in B for other batches"
    else:
        b1, b2 = args.step_batches
        m = measure_step((b1, b2), args.step_steps)
        slope = (m[b2] - m[b1]) / (b2 - b1)
        icpt = m[b1] - slope * b1
        if slope <= 0:                      # noisy machine: fall back to proportional scaling
            slope, icpt = m[b2] / b2, 0.0
        step = {b: icpt + slope * b for b in args.batches}
        how = (f"repro's step measured on this CPU at batches {b1}/{b2} ({m[b1]:.0f}/{m[b2]:.0f} ms) and "
               f"extrapolated linearly: t(B) = {icpt:.0f} + {slope:.0f}*B ms")
    print(f"step time: {how}")
    for b in args.batches:
        print(f"  batch {b:4d}: step {step[b]:10.0f} ms | OT emd {100 * res[b]['emd'] * 1e3 / step[b]:.4f}% | "
              f"lsa {100 * res[b]['lsa'] * 1e3 / step[b]:.4f}% | lct {100 * res[b]['lct'] * 1e3 / step[b]:.4f}% of a step")
    pb = PAPER_BATCH if PAPER_BATCH in res else args.batches[0]
    e = res[pb]
    print(f"OT budget: 1% of a step at batch {pb} holds for steps >= {100 * e['emd'] * 1e3:.0f} ms (emd) / "
          f"{100 * e['lsa'] * 1e3:.0f} ms (lsa)")
    print(f"emd/lsa time ratio at batch {pb} = {e['emd'] / e['lsa']:.2f}; "
          f"OT fraction of step at batch {pb} (emd) = {100 * e['emd'] * 1e3 / step[pb]:.4f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
