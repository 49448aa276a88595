"""One sLCT training step: repro's vs the LCT reference code's own, same network size and weights.

    python benchmarks/lct_step.py --lct-src PATH [--width 32] [--batch 8] [--pairs 5] [--warmup 1]
                                  [--device cpu|cuda] [--threads T]
                                  [--lct-script scripts/old/train_lct_ot_newc_allnonscalinglayernorm.sh]

PATH is a checkout of github.com/quandao10/LCT at commit 5e7d492 (branch `ot`, the paper-era code).
Nothing of it is copied here: its modules are imported from PATH at run time (benchmarks/lct_ref.py).

Reference side (its own code, imported from PATH):
  * the argument parser of `train_cm_latent.py` (its `__main__` block, executed up to
    `parser.parse_args`), fed the flags of the CelebA-HQ script `--lct-script` with
    `--num-channels` set to `--width`;
  * `models.script_util.create_model_and_diffusion(args)` -> DhariwalUNet + KarrasDenoiser;
  * `models.script_util.create_ema_and_scales_fn` (N(k) and the teacher rate),
    `models.optimal_transport.OTPlanSampler(method="exact", normalize_cost=True)` and its
    `sample_plan_with_labels(..., replace=False)`;
  * `KarrasDenoiser.consistency_losses(model, x, N, target_model=..., noise=n)` (Cauchy loss,
    ICT weighting, lognormal index sampler, diffusion term);
  * `train_cm_latent.update_ema` and `train_cm_latent.EMA_RATES` (7 EMA copies), plus the target
    copy refreshed with `update_ema(target, model, 0)` (the script's `--ict` branch).
Glue (the script's `main()` is one function with the loop inline, so these lines are written here
after it): the optimiser call `torch.optim.RAdam(model.parameters(), lr=args.lr, weight_decay=1e-4)`,
the EMA/target deep copies, `x`/`n = randn_like(x)`, the `--c-by-loss-std` formula for c, `loss =
cm.mean() + 5 * diff.mean()`, the `isnan` check, zero_grad/backward/step, three `.item()` calls and
(on CUDA) the three `torch.cuda.memory_allocated` probes. Not reproduced: DDP (one process here,
on both sides), the DataLoader and the latent normalisation (both sides read the same in-memory
batch, already in model space). Packages the reference imports at module level but never calls on
this path are replaced by stubs when they are not installed; a stub raises if it is ever used.

Ours: what `repro train slct/t1/celebahq/ours/nfe1` builds (row's ModelSpec with
model_channels = --width), through `benchmarks/train_step.build_ours` = `loop._make_step` as
`train_row` builds it, with train_row's on-device bookkeeping.

Same weights: our initial weights are copied into the reference network in parameter order, every
pair's shape checked (the reference's non-scaling LayerNorm also holds a frozen γ ≡ 1 parameter
per norm, which ours does not have: those are skipped and counted separately). One forward of both
networks on the same input confirms the mapping. Timing: interleaved ours/ref pairs after warm-up;
per-pair wall times and ours/ref median and range are printed (the last line), and on the CPU the
same ratio of process CPU time, which machine load disturbs much less when --threads is 1.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import math
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

ROW = "slct/t1/celebahq/ours/nfe1"
from lct_ref import DEFAULT_SCRIPT, MODULES, load_reference, reference_args  # noqa: E402


# ----------------------------------------------------------------------------- both sides

def ours_row(width: int, **runtime):
    from repro.rows import load_row

    row = load_row(ROW)
    row = dataclasses.replace(row, model=dataclasses.replace(row.model, model_channels=width))
    if runtime:
        row = dataclasses.replace(row, runtime=dataclasses.replace(row.runtime, **runtime))
    return row


def trainable(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def copy_weights(ours_net, ref_net) -> str:
    """Our parameters → the reference's, in registration order, shapes checked pair by pair."""
    ref_train = [(n, p) for n, p in ref_net.named_parameters() if p.requires_grad]
    ref_frozen = [(n, p) for n, p in ref_net.named_parameters() if not p.requires_grad]
    mine = list(ours_net.named_parameters())
    if len(mine) != len(ref_train):
        raise SystemExit(f"parameter tensors: ours {len(mine)} vs reference trainable {len(ref_train)}")
    with torch.no_grad():
        for (a, p), (b, q) in zip(mine, ref_train):
            if p.shape != q.shape:
                raise SystemExit(f"shape mismatch in order: ours {a} {tuple(p.shape)} vs ref {b} {tuple(q.shape)}")
            q.copy_(p)
    assert all(bool((q == 1).all()) for _, q in ref_frozen), "reference frozen params are not NsLN γ ≡ 1"
    names = sum(a == b for (a, _), (b, _) in zip(mine, ref_train))
    return (f"{len(mine)} tensors copied in registration order (ours named_parameters ↔ reference "
            f"named_parameters with requires_grad), every shape equal, {names}/{len(mine)} also equal by "
            f"name; {len(ref_frozen)} frozen reference tensors (NsLN γ ≡ 1, "
            f"{sum(q.numel() for _, q in ref_frozen):,} values) left as built")


def build_reference(ref, args, ours_f, data, dev, total_steps: int):
    """The reference's step as train_cm_latent.main runs it (see module docstring for glue)."""
    with contextlib.redirect_stdout(io.StringIO()):      # get_norm_layer prints every norm type
        model, diffusion = ref.su.create_model_and_diffusion(args)
    mapping = copy_weights(ours_f.net, model)
    model = model.to(dev)
    update_ema, rates = ref.script.update_ema, ref.script.EMA_RATES
    # main(): c0 = 0.00054·sqrt(C·H·W) unless --custom-constant-c
    diffusion.c = torch.tensor(0.00054 * math.sqrt(args.num_in_channels * args.image_size ** 2))
    emas = {}
    for name in rates:
        emas[name] = copy.deepcopy(model)
        update_ema(emas[name], model, decay=0)
        emas[name].to(dev)
    target = copy.deepcopy(model).to(dev)
    target.requires_grad_(False)
    target.train()
    opt = torch.optim.RAdam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    for name in rates:
        for p in emas[name].parameters():
            p.requires_grad = False
        emas[name].eval()
    args.total_training_steps = total_steps
    ema_scale_fn = ref.su.create_ema_and_scales_fn(
        target_ema_mode=args.target_ema_mode, start_ema=args.start_ema, scale_mode=args.scale_mode,
        start_scales=args.start_scales, end_scales=args.end_scales, total_steps=args.total_training_steps,
        ict=args.ict)
    ot_sampler = ref.ot.OTPlanSampler(method="exact", normalize_cost=True) if args.ot_hard else None
    running = [0.0, 0.0, 0.0]
    on_cuda = dev.type == "cuda"
    info = {"skipped": []}

    def run(train_steps, idx):
        x, _ = data.batch(idx)
        x = x.to(dev)
        y = None
        n = torch.randn_like(x)
        if ot_sampler is not None:
            x, n, y, _ = ot_sampler.sample_plan_with_labels(x0=x, x1=n, y0=y, y1=None, replace=False)
        ema_rate, num_scales = ema_scale_fn(train_steps)
        diffusion.update_cur_precond(num_scales=num_scales)
        if args.c_by_loss_std and num_scales > args.start_scales + 1:
            diffusion.c = torch.tensor(math.exp(-1.15 * math.log(float(num_scales - 1)) - 0.85))
        if on_cuda:
            torch.cuda.memory_allocated(dev)
        losses = diffusion.consistency_losses(model, x, num_scales, target_model=target,
                                              model_kwargs=dict(y=y), noise=n, adaptive=None, model_umt=None)
        cm_loss = losses["loss"].mean()
        diff_loss = losses["diff_loss"].mean()
        loss = cm_loss + 5 * diff_loss if args.use_diffloss else cm_loss
        if on_cuda:
            torch.cuda.memory_allocated(dev)
        if not torch.isnan(loss):
            opt.zero_grad()
            loss.backward()
            opt.step()
            running[0] += loss.item()
            running[1] += cm_loss.item()
            running[2] += diff_loss.item()
        else:                     # e.g. no sample in the diffusion-term range: mean of nothing
            info["skipped"].append(train_steps)
        if on_cuda:
            torch.cuda.memory_allocated(dev)
        for name, rate in rates.items():
            update_ema(emas[name], model, rate)
        update_ema(target, model, 0 if args.ict else ema_rate)
        return loss.detach(), num_scales

    return run, model, mapping, info, ema_scale_fn


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def check_forward(ours_f, ref_model, dev, shape, batch=2) -> float:
    g = torch.Generator().manual_seed(1)
    x = torch.randn((batch,) + tuple(shape), generator=g).to(dev)
    c = torch.linspace(-40.0, 40.0, batch).to(dev)      # c_noise = 250·ln σ spans about ±1100
    with torch.no_grad():
        a = ours_f.net(x, c)
        b = ref_model(x, c)
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def setup(lct_src, width, batch, dev, script=DEFAULT_SCRIPT, ours_runtime=None, data_n=None):
    """Both steps, same size and weights. Returns a namespace the GPU suite reuses."""
    from train_step import Latents, build_ours

    ref = load_reference(lct_src)
    args, flags = reference_args(ref, width, script)
    row = ours_row(width, **(ours_runtime or {}))
    if width * row.model.channel_mult[1] < 64:
        raise SystemExit(f"--width {width}: the reference drops attention below 64 channels per level "
                         f"(heads = channels // 64) where ours keeps one head; use --width >= 32")
    data = Latents(data_n or max(8 * batch, 64))
    ours, f = build_ours(row, data, dev, batch)
    run_ref, ref_model, mapping, info, ema_scale_fn = build_reference(ref, args, f, data, dev, row.total_steps)
    return types.SimpleNamespace(ref=ref, args=args, flags=flags, row=row, data=data, ours=ours, f=f,
                                 run_ref=run_ref, ref_model=ref_model, mapping=mapping, info=info,
                                 ema_scale_fn=ema_scale_fn)


def time_pairs(paths, data_len, batch, dev, step0, pairs, warmup, log=print, cpu_times=None):
    """Interleaved timing of several step closures; returns {name: [wall seconds...]} after
    warm-up. `cpu_times`, if a dict, receives the process CPU seconds per step too: on a shared
    CPU with one torch thread that is the work done, whatever the machine's load."""
    times = {name: [] for name in paths}
    if cpu_times is not None:
        cpu_times.update({name: [] for name in paths})
    for k in range(warmup + pairs):
        idx = torch.arange(k * batch, (k + 1) * batch) % data_len
        dts = {}
        for name, fn in paths.items():
            _sync(dev)
            t0, c0 = time.perf_counter(), time.process_time()
            fn(step0 + k, idx)
            _sync(dev)
            dts[name] = time.perf_counter() - t0
            if k >= warmup:
                times[name].append(dts[name])
                if cpu_times is not None:
                    cpu_times[name].append(time.process_time() - c0)
        if log:
            log(f"  pair {k}{' (warm-up)' if k < warmup else ''}: "
                + ", ".join(f"{n} {t * 1e3:.1f} ms" for n, t in dts.items()))
    return times


def pair_ratios(mine, ref, skipped_steps, step0, warmup):
    """Per-pair ratios mine/ref, leaving out the pairs where the reference skipped its update
    (NaN loss), since those reference steps did no backward or optimiser work."""
    steps = range(step0 + warmup, step0 + warmup + len(mine))
    skipped = [k - step0 for k in steps if k in skipped_steps]
    r = [a / b for k, a, b in zip(steps, mine, ref) if k not in skipped_steps]
    return r, skipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lct-src", required=True, help="checkout of quandao10/LCT at 5e7d492")
    ap.add_argument("--lct-script", default=DEFAULT_SCRIPT, help="launch script whose flags configure the reference")
    ap.add_argument("--width", type=int, default=32, help="model_channels for both (paper: 128)")
    ap.add_argument("--batch", type=int, default=8, help="per-GPU batch (paper: 128)")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if a.device == "auto" else a.device))
    s = setup(a.lct_src, a.width, a.batch, dev, a.lct_script)

    po, pr = trainable(s.f), trainable(s.ref_model)
    allr = sum(p.numel() for p in s.ref_model.parameters())
    print(f"reference: {s.ref.src} ({', '.join(MODULES)}); stubbed (not installed, unused on this path): "
          f"{', '.join(s.ref.stubbed) or 'none'}; TF32 flags after importing train_cm_latent: {s.ref.tf32_after}")
    print(f"reference args: train_cm_latent.py's parser on {a.lct_script} flags, --num-channels {a.width}: "
          f"model_type={s.args.model_type} channel_mult={s.args.channel_mult} num_res_blocks={s.args.num_res_blocks} "
          f"attn={s.args.attention_resolutions} norms={s.args.block_norm_type}/{s.args.last_norm_type} "
          f"loss={s.args.loss_norm} weight={s.args.weight_schedule} ot_hard={s.args.ot_hard} "
          f"diffloss={s.args.use_diffloss} c_by_loss_std={s.args.c_by_loss_std} ict={s.args.ict} lr={s.args.lr}")
    print(f"ours: row {ROW}, ModelSpec.model_channels={a.width}; runtime bf16={s.row.runtime.bf16} "
          f"(CUDA only), EMA rates {s.row.train.ema_rates}")
    print(f"parameters (trainable): ours {po:,} | reference {pr:,} (all incl. frozen NsLN γ: {allr:,})")
    assert po == pr, (po, pr)
    print(f"weights: {s.mapping}")
    rel = check_forward(s.f, s.ref_model, dev, s.data.shape)
    print(f"forward check, same input and weights: max |ours − ref| / max |ref| = {rel:.2e}")
    print(f"reference EMA copies: {len(s.ref.script.EMA_RATES)} ({', '.join(map(str, s.ref.script.EMA_RATES.values()))}) "
          f"+ 1 target; ours: {len(s.row.train.ema_rates)} EMA shadow(s)")
    print("reference code: parser, create_model_and_diffusion, create_ema_and_scales_fn, OTPlanSampler, "
          "consistency_losses, update_ema, EMA_RATES | glue: RAdam(lr, weight_decay=1e-4) call, deep copies, "
          "randn_like noise, c formula, loss sum, isnan/backward/step/.item(), memory probes on CUDA")

    step0 = s.row.total_steps // 2
    n_ref = s.ema_scale_fn(step0)[1]
    from repro.train import build
    n_ours = build.n_at(s.row, step0, s.row.total_steps)
    print(f"device {dev}{'' if dev.type == 'cuda' else f' ({torch.get_num_threads()} threads)'}, "
          f"per-GPU batch {a.batch}, step {step0}: N ours {n_ours} / reference {n_ref}")
    assert n_ours == n_ref
    cpu = {}
    t = time_pairs({"ours": s.ours, "ref": s.run_ref}, len(s.data), a.batch, dev, step0, a.pairs, a.warmup,
                   cpu_times=cpu)
    r, skipped = pair_ratios(t["ours"], t["ref"], s.info["skipped"], step0, a.warmup)
    rc, _ = pair_ratios(cpu["ours"], cpu["ref"], s.info["skipped"], step0, a.warmup)
    if skipped:
        print(f"note: the reference's loss was NaN at pair(s) {skipped} (no sample in the diffusion-term range "
              f"at this batch), so it skipped backward and the optimiser step there; those pairs are left out "
              f"of the ratio")
    if not r:
        print("no pair left to compare: the reference's loss was NaN at every timed step; use a larger --batch")
        return 1
    print(f"ours: median {statistics.median(t['ours']) * 1e3:.1f} ms/step, reference: median "
          f"{statistics.median(t['ref']) * 1e3:.1f} ms/step ({len(r)} pairs)")
    if dev.type == "cpu":
        print(f"process CPU time per step ({torch.get_num_threads()} threads): ours median "
              f"{statistics.median(cpu['ours']) * 1e3:.1f} ms, reference {statistics.median(cpu['ref']) * 1e3:.1f} ms; "
              f"ratio ours/ref median {statistics.median(rc):.3f} (range {min(rc):.3f} - {max(rc):.3f})")
    print(f"ratio ours/ref: median {statistics.median(r):.3f} (range {min(r):.3f} - {max(r):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
