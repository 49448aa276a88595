"""Minibatch OT coupling time (sLCT §4.4) at per-GPU batches 32/128/256 on 32×32×4 latents.

    python benchmarks/ot_coupling.py [--batches 32 128 256] [--trials 9] [--step-ms MS]
                                     [--step-batches 2 4] [--step-steps 2] [--threads T]
                                     [--cert-trials 30] [--sim-step-ms 150]

Solvers, all through the full coupling (cost matrix + solve + permute):
  emd      repro.core.coupling.ot_coupling(solver='emd')   POT ot.emd, argmax of the plan
  lsa      repro.core.coupling.ot_coupling(solver='lsa')   scipy linear_sum_assignment (the default)
  lct      LCT's OTPlanSampler route (benchmarks/train_step.lct_ot): cdist², ot.emd, then
           np.random.choice over the B² plan entries without replacement
Each trial draws fresh random inputs (x0 ~ 0.5·N(0,1), unit z) and checks that emd and lsa give
the same permutation (agreement count printed). Times are medians over the trials.

Float32 cost with the certificate (repro.core.coupling, printed first): per batch kind, the
median time of the float64 cost (the fallback), the float32 cost and its error bound, the solve,
the certificate, and the whole coupling; how often each path decided ('f32' certified at once,
'refined' after recomputing doubtful entries in float64, 'f64' the float64 path ran) and whether
every permutation equals the float64 path's. Then the OT time left on the training thread with the
host thread (repro/train/ot_pairs.py: submit step k+1, a step of --sim-step-ms with the host
idle as on a GPU, then apply) against solving in place.

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


def _kinds(trials: int):
    """(name, [(x0, z)]) for latent-like and demo batches, z unit Gaussian noise."""
    g = torch.Generator().manual_seed(1)
    lat = [(torch.randn(PAPER_BATCH, 4, 32, 32, generator=g) * 0.5,
            torch.randn(PAPER_BATCH, 4, 32, 32, generator=g)) for _ in range(trials)]
    # Spatially correlated latents with a per-sample offset (closer to VAE latents than iid noise).
    smooth = [(torch.nn.functional.avg_pool2d(torch.randn(PAPER_BATCH, 4, 32, 32, generator=g), 5, 1, 2) * 3
               + torch.randn(PAPER_BATCH, 1, 1, 1, generator=g) * 0.3,
               torch.randn(PAPER_BATCH, 4, 32, 32, generator=g)) for _ in range(trials)]
    out = [("latent 0.5*N(0,1), 128x4x32x32", lat), ("latent smooth, 128x4x32x32", smooth)]
    try:                                   # the demo's real batches (digits 1x8x8, batch 64)
        from repro.data import open_train_set
        from repro.rows import load_row
        from repro.train.loop import _Order

        row = load_row("demo/digits/nfe1")
        data = open_train_set(row.data)
        order = _Order(len(data), row.train.batch_size, row.train.seed)
        demo = [(data.batch(order.indices(k))[0], torch.randn(row.train.batch_size, *data.shape[1:], generator=g))
                for k in range(trials)]
        out.append((f"demo digits data, {row.train.batch_size}x{'x'.join(map(str, data.shape[1:]))}", demo))
    except Exception as e:                 # noqa: BLE001 - the demo data may be absent
        print(f"  (demo data not available: {type(e).__name__}: {e})")
    return out


def certificate_stats(trials: int) -> dict:
    from repro.core import coupling as cp

    res = {}
    for name, batches in _kinds(trials):
        t = {k: [] for k in ("cost64", "cost32", "solve", "certify", "coupling", "float64 path")}
        paths, agree = {"f32": 0, "refined": 0, "f64": 0}, 0
        for x0, z in batches:
            t0 = time.perf_counter()
            c64 = cp._cost(x0, z)
            t1 = time.perf_counter()
            ref = cp._lsa(c64)
            t["cost64"].append(t1 - t0)
            t["float64 path"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            f = cp._Fast(x0, z)
            t1 = time.perf_counter()
            perm = cp._lsa(f.cost)
            t2 = time.perf_counter()
            cp._certified(f, perm)
            t["cost32"].append(t1 - t0)
            t["solve"].append(t2 - t1)
            t["certify"].append(time.perf_counter() - t2)
            t0 = time.perf_counter()
            got, path = cp._plan(x0, z)
            t["coupling"].append(time.perf_counter() - t0)
            paths[path] += 1
            agree += bool(np.array_equal(got, ref))
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        res[name] = med
        n = len(batches)
        print(f"  {name}: float64 cost {med['cost64']:.2f} ms | float32 cost + bound {med['cost32']:.2f} ms | "
              f"solve {med['solve']:.2f} ms | certify {med['certify']:.2f} ms | coupling {med['coupling']:.2f} ms "
              f"vs float64 path {med['float64 path']:.2f} ms | paths f32 {paths['f32']}/{n}, refined "
              f"{paths['refined']}/{n}, f64 (fallback) {paths['f64']}/{n} | same permutation as float64 {agree}/{n}",
              flush=True)
    return res


def host_thread_stats(trials: int, sim_step_ms: float) -> dict:
    """Training-thread ms per step for OT: in place vs submitted a step ahead to the host thread."""
    from repro.core.coupling import ot_coupling, ot_permutation
    from repro.train.ot_pairs import NextPairs

    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(PAPER_BATCH, 4, 32, 32, generator=g) * 0.5, torch.randn(PAPER_BATCH, 4, 32, 32, generator=g))
               for _ in range(trials + 1)]
    inplace = []
    for x0, z in batches[1:]:
        t0 = time.perf_counter()
        ot_coupling(x0, z)
        inplace.append(time.perf_counter() - t0)
    pairs, main, waits, gathers = NextPairs(ot_permutation), [], [], []
    try:
        pending = pairs.submit(*batches[0])
        for k in range(1, len(batches)):
            time.sleep(sim_step_ms / 1e3)                 # the device step; the host waits
            t0 = time.perf_counter()
            pending.result()                              # step k's pairs, solved during the step before
            waits.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            pairs.apply(batches[k - 1][1], pending)       # as the loop: gather, then submit step k+1
            gathers.append(time.perf_counter() - t1)
            pending = pairs.submit(*batches[k])
            main.append(time.perf_counter() - t0)
        pending.result()
    finally:
        pairs.close()
    ms = {k: statistics.median(v) * 1e3 for k, v in (("inplace", inplace), ("thread", main), ("wait", waits),
                                                          ("gather", gathers))}
    return dict(ms, thread_max=max(main) * 1e3)


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
    ap.add_argument("--cert-trials", type=int, default=30, help="batches per kind for the certificate stats")
    ap.add_argument("--sim-step-ms", type=float, default=150.0,
                    help="device step simulated for the host-thread figure (host idle, as on a GPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # As the training's OT worker does (repro/train/ot_pairs.py): numpy's GEMMs on one OpenBLAS
    # thread, which otherwise fights torch's OpenMP threads for the cores.
    from repro.train.ot_pairs import NextPairs

    with NextPairs(None).one_blas_thread():
        return _main(args)


def _main(args) -> int:
    print(f"float32 cost + certificate, median of {args.cert_trials} batches each "
          f"(numpy GEMMs on one OpenBLAS thread, {torch.get_num_threads()} torch threads):")
    certificate_stats(args.cert_trials)
    ht = host_thread_stats(args.cert_trials, args.sim_step_ms)
    print(f"  training-thread OT time per step at batch {PAPER_BATCH}: in place {ht['inplace']:.2f} ms | "
          f"host thread {ht['thread']:.3f} ms (wait {ht['wait']:.3f} + gather {ht['gather']:.3f} ms + submit; max "
          f"{ht['thread_max']:.2f} ms; the device step simulated as {args.sim_step_ms:g} ms with the host idle)")
    print(f"  OT share of a {args.sim_step_ms:g} ms step: in place {100 * ht['inplace'] / args.sim_step_ms:.2f}% | "
          f"host thread {100 * ht['thread'] / args.sim_step_ms:.3f}% (without the gather, a device kernel on a GPU: "
          f"{100 * (ht['thread'] - ht['gather']) / args.sim_step_ms:.3f}%)", flush=True)

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
