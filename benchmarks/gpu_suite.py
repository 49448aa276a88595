"""The GPU benchmark suite in one run (under 8 minutes on one GPU), one ratio per result line.

    python benchmarks/gpu_suite.py [--lct-src PATH] [--pairs 5] [--eval-num 1024]
    python benchmarks/gpu_suite.py --cpu-dry-run        # end to end on the CPU at tiny sizes (~1-2 min)

Result lines have the form `NAME = VALUE  # details`, in this order:

  step_bf16_over_fp32      ours, RuntimeSpec.bf16=True vs False (the default), time per training
                           step of row slct/t1/celebahq/ours/nfe1 (158 M params) at the paper's
                           per-GPU batch 128; < 1 means bf16 is faster
  step_ours_fp32_over_ref  ours (fp32 + TF32, the default) vs the LCT reference's own step
                           (benchmarks/lct_step.py, same network and weights); needs --lct-src,
                           else `skipped`
  step_ours_bf16_over_ref  the same with ours under bf16 autocast
  eval_generate_share      evaluation of one sLCT row, per image: 1-NFE generation with the
  eval_decode_share          paper network, SD-VAE decoding (random weights, the published
  eval_jpeg_share            architecture from repro/data/vae.py), the JPEG round trip, and
  eval_features_share        clean-fid features with a random-weight InceptionV3 (legacy_pytorch,
                           built by repro's own inception_extractor from a temporary cache);
                           each line is that stage's share of the end-to-end time, and the
                           details give images/s and the projected time for 50K samples
  ot_share_of_step         the OT coupling (the objective's own coupling function, as the step
                           calls it) at batch 128 as a fraction of our fp32 step (details: bf16)

All step timings are interleaved (each pair runs every variant once) after warm-up; medians.
--cpu-dry-run: CPU, 1 torch thread, a tiny UNet (32 channels, 2 levels, 1 block), batch 8,
the tiny VAE config, 8 evaluation images; its numbers only show that the suite runs (bf16
autocast is CUDA-only in our step, so on the CPU both step variants are fp32). With --lct-src
the dry run compares at width 32 (the narrowest size where both networks keep attention).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PAPER_BATCH = 128


def emit(name, value, details=""):
    v = value if isinstance(value, str) else f"{value:.4g}"
    print(f"{name} = {v}" + (f"  # {details}" if details else ""), flush=True)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def median_ratio(a, b):
    r = [x / y for x, y in zip(a, b)]
    return statistics.median(r), min(r), max(r)


def _row(dry: bool, **runtime):
    from train_step import TINY, load

    row = load(small=dry)
    if dry:
        row = dataclasses.replace(row, model=TINY)
    return dataclasses.replace(row, runtime=dataclasses.replace(row.runtime, **runtime))


def steps(a, dev):
    """Ours fp32 vs bf16 (and the reference with --lct-src); returns median fp32 step seconds."""
    from lct_step import time_pairs
    from train_step import Latents, build_ours

    batch = a.batch
    data = Latents(max(4 * batch, 64))
    paths, fs = {}, {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        row = _row(a.cpu_dry_run, bf16=bf16)
        paths[name], fs[name] = build_ours(row, data, dev, batch)
    nparam = sum(p.numel() for p in fs["fp32"].parameters())
    step0 = row.total_steps // 2
    t = time_pairs(paths, len(data), batch, dev, step0, a.pairs, a.warmup, log=None)
    m, lo, hi = median_ratio(t["bf16"], t["fp32"])
    emit("step_bf16_over_fp32", m, f"ours, {nparam / 1e6:.1f} M params, batch {batch}, {dev}; range {lo:.3f}-{hi:.3f}; "
         f"median fp32 {statistics.median(t['fp32']) * 1e3:.1f} ms, bf16 {statistics.median(t['bf16']) * 1e3:.1f} ms"
         + ("; CPU: autocast is CUDA-only, both are fp32" if dev.type != "cuda" else ""))
    del paths, fs
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    fp32_s, bf16_s = statistics.median(t["fp32"]), statistics.median(t["bf16"])

    if not a.lct_src:
        for name in ("step_ours_fp32_over_ref", "step_ours_bf16_over_ref"):
            emit(name, "skipped", "pass --lct-src PATH (quandao10/LCT at 5e7d492)")
        return fp32_s, bf16_s
    from lct_step import pair_ratios, setup, trainable
    width = 32 if a.cpu_dry_run else 128
    s = setup(a.lct_src, width, batch, dev)
    assert trainable(s.f) == trainable(s.ref_model)
    from train_step import build_ours
    ours_bf16, _ = build_ours(dataclasses.replace(s.row, runtime=dataclasses.replace(s.row.runtime, bf16=True)),
                              s.data, dev, batch)
    step0 = s.row.total_steps // 2
    t = time_pairs({"fp32": s.ours, "bf16": ours_bf16, "ref": s.run_ref}, len(s.data), batch, dev,
                   step0, a.pairs, a.warmup, log=None)
    for name in ("fp32", "bf16"):
        r, skipped = pair_ratios(t[name], t["ref"], s.info["skipped"], step0, a.warmup)
        if not r:
            emit(f"step_ours_{name}_over_ref", "skipped", "the reference's loss was NaN at every timed step")
            continue
        emit(f"step_ours_{name}_over_ref", statistics.median(r),
             f"width {width}, {trainable(s.f) / 1e6:.1f} M params both, batch {batch}; range {min(r):.3f}-"
             f"{max(r):.3f} over {len(r)} pairs; ref median {statistics.median(t['ref']) * 1e3:.1f} ms"
             + (f"; pairs {skipped} left out (reference NaN loss, no update)" if skipped else ""))
    return fp32_s, bf16_s


def _random_inception(tmp: Path, device):
    """repro's legacy_pytorch extractor, its weights file replaced by a random-init state dict."""
    import cleanfid.inception_pytorch as ip
    import torchvision

    from repro.data.assets import asset_path
    from repro.eval.fid import inception_extractor

    orig_url, orig_load = ip.load_state_dict_from_url, torchvision.models.Inception3.load_state_dict
    holder = {}
    orig_fid = ip.fid_inception_v3

    def capture():
        m = orig_fid()
        holder["sd"] = m.state_dict()
        return m
    ip.load_state_dict_from_url = lambda *a, **k: {}
    torchvision.models.Inception3.load_state_dict = lambda self, sd, *a, **k: None
    ip.fid_inception_v3 = capture
    try:
        torch.manual_seed(0)
        ip.InceptionV3(output_blocks=[3], resize_input=False)
    finally:
        ip.load_state_dict_from_url, ip.fid_inception_v3 = orig_url, orig_fid
        torchvision.models.Inception3.load_state_dict = orig_load
    path = asset_path("inception-pytorch", tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(holder["sd"], path)
    return inception_extractor("legacy_pytorch", device, cache=tmp)


def evaluation(a, dev):
    from repro.data.trainset import latent_from_model
    from repro.data.vae import SD_VAE_CONFIG, TINY_VAE_CONFIG, build_vae
    from repro.eval.fid import cleanfid_features
    from repro.eval.sample import jpeg_roundtrip, sample_batches
    from repro.train import build

    row = _row(a.cpu_dry_run)
    torch.manual_seed(0)
    f = build.build_function(row).to(dev).eval()
    vae = build_vae(TINY_VAE_CONFIG if a.cpu_dry_run else SD_VAE_CONFIG, device=dev)
    shape = (4, 32, 32)           # the latent shape of the sLCT rows (the tiny VAE decodes it to 64²)
    zero, one = np.zeros(shape, np.float32), np.ones(shape, np.float32)
    to_images = latent_from_model(zero, one, True, None)          # the latent rows' decode path

    def decode(x):
        return to_images(x, vae=vae)
    with tempfile.TemporaryDirectory() as tmp:
        ext = _random_inception(Path(tmp), dev)
    num, bs = a.eval_num, min(a.eval_batch, a.eval_num)
    tim = {"generate": 0.0, "decode": 0.0, "jpeg": 0.0}
    imgs = []

    def timed(key, fn):
        _sync(dev)
        t0 = time.perf_counter()
        out = fn()
        _sync(dev)
        tim[key] += time.perf_counter() - t0
        return out

    with torch.no_grad():
        # warm-up (cuDNN autotuning, allocator) outside the timings
        x = next(sample_batches(f, 2, 2, shape, row.eval.sigmas, 0, dev))
        cleanfid_features([jpeg_roundtrip(decode(x))], 2, ext, 2, dev)
        it = sample_batches(f, num, bs, shape, row.eval.sigmas, row.eval.seed, dev)
        for _ in range(0, num, bs):
            x = timed("generate", lambda: next(it))
            u8 = timed("decode", lambda: decode(x))
            imgs.append(timed("jpeg", lambda: jpeg_roundtrip(u8)))
    _sync(dev)
    t0 = time.perf_counter()
    feats = cleanfid_features(iter(imgs), num, ext, bs, dev)
    _sync(dev)
    tim["features"] = time.perf_counter() - t0
    assert feats.shape == (num, 2048) and np.isfinite(feats).all()
    total = sum(tim.values())
    detail = (f"{num} images of {imgs[0].shape[1]}x{imgs[0].shape[2]}, batch {bs}, {dev}; end to end "
              f"{num / total:.1f} img/s, 50K in {50_000 * total / num / 60:.1f} min")
    for k in ("generate", "decode", "jpeg", "features"):
        emit(f"eval_{k}_share", tim[k] / total, f"{num / tim[k]:.1f} img/s; " + detail)


def ot_share(a, dev, fp32_s, bf16_s):
    from repro.train import build

    row = _row(a.cpu_dry_run)
    objective = build.build_objective(row)
    g = torch.Generator().manual_seed(0)
    x0 = (torch.randn(a.batch, 4, 32, 32, generator=g) * 0.5).to(dev)
    z = torch.randn(a.batch, 4, 32, 32, generator=g).to(dev)
    objective.coupling(x0, z)
    ts = []
    for _ in range(7):
        _sync(dev)
        t0 = time.perf_counter()
        objective.coupling(x0, z)
        _sync(dev)
        ts.append(time.perf_counter() - t0)
    t = statistics.median(ts)
    emit("ot_share_of_step", t / fp32_s, f"OT {t * 1e3:.2f} ms at batch {a.batch} ({row.loss.coupling}, "
         f"median of 7) vs fp32 step {fp32_s * 1e3:.1f} ms; of the bf16 step: {t / bf16_s:.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lct-src", default=None, help="checkout of quandao10/LCT at 5e7d492 (optional)")
    ap.add_argument("--cpu-dry-run", action="store_true", help="tiny sizes on the CPU: checks the suite runs")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--eval-num", type=int, default=1024)
    ap.add_argument("--eval-batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    if a.cpu_dry_run:
        dev = torch.device("cpu")
        torch.set_num_threads(a.threads or 1)
        a.batch, a.pairs, a.warmup = 8, min(a.pairs, 2), 1
        a.eval_num, a.eval_batch = min(a.eval_num, 8), 4
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_suite: no CUDA device; use --cpu-dry-run to check the suite on the CPU")
        dev = torch.device("cuda")
        a.batch = PAPER_BATCH
        if a.threads:
            torch.set_num_threads(a.threads)
    print(f"gpu_suite: {'CPU dry run (tiny sizes)' if a.cpu_dry_run else torch.cuda.get_device_name(dev)}, "
          f"torch {torch.__version__}, {a.pairs} pairs after {a.warmup} warm-up", flush=True)
    import cleanfid.fid  # noqa: F401   (before the reference's stubs go in; import time is not measured)
    import diffusers  # noqa: F401
    fp32_s, bf16_s = steps(a, dev)
    evaluation(a, dev)
    ot_share(a, dev, fp32_s, bf16_s)
    print(f"gpu_suite: done in {time.perf_counter() - t_start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
