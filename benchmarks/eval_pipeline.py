"""Host cost of the FID evaluation pipeline per image, stage by stage, and what worker threads buy.

    python benchmarks/eval_pipeline.py [--n 64] [--res 256] [--batch 32] [--skip-flops]

Stages, per generated image (uint8 res×res RGB, clean-fid legacy_pytorch protocol):
  jpeg      PIL JPEG round trip at quality 75 (repro.eval.sample.jpeg_roundtrip)
  resize    clean-fid's legacy_pytorch resize to 299 (cleanfid.resize.build_resizer)
  features  pytorch-fid's InceptionV3 (clean-fid's class, random weights: no download) on CPU
Then repro.eval.stream.streamed_features end to end with 1 and 2 host workers (images/s).

FLOPs: one forward of each paper-size network per sample (torch.utils.flop_counter on the meta
device, so no memory): the sLCT UNet of slct/t1/celebahq/ours/nfe1 and the iCT NCSN++ of
ict/cifar10/ict/nfe1, plus the InceptionV3 forward, for the GPU side of a 1-NFE evaluation.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _inception():
    """pytorch-fid's InceptionV3 (clean-fid's class) with random weights: nothing is downloaded."""
    from cleanfid import inception_pytorch as ip

    orig_url, orig_load = ip.load_state_dict_from_url, torch.nn.Module.load_state_dict
    ip.load_state_dict_from_url = lambda *a, **k: {}
    torch.nn.Module.load_state_dict = lambda self, *a, **k: None
    try:
        return ip.InceptionV3(output_blocks=[3], resize_input=False).eval()
    finally:
        ip.load_state_dict_from_url, torch.nn.Module.load_state_dict = orig_url, orig_load


def per_image(fn, items, reps=3):
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(items)
        best.append((time.perf_counter() - t0) / len(items))
    return statistics.median(best)


def flops_per_sample():
    from torch.utils.flop_counter import FlopCounterMode

    from repro.rows import load_row
    from repro.train.build import build_function

    out = {}
    for rid in ("slct/t1/celebahq/ours/nfe1", "ict/cifar10/ict/nfe1"):
        row = load_row(rid)
        with torch.device("meta"):
            f = build_function(row)
            shape = (1,) + tuple(_shape(row))
            x = torch.randn(shape)
            s = torch.full((1,), 80.0)
            with FlopCounterMode(display=False) as fc:
                f(x, s, None)
        out[rid] = (fc.get_total_flops(), sum(p.numel() for p in f.parameters()))
    with torch.device("meta"):
        net = _inception()
        with FlopCounterMode(display=False) as fc:
            net(torch.randn(1, 3, 299, 299))
    out["inception (pytorch-fid)"] = (fc.get_total_flops(), sum(p.numel() for p in net.parameters()))
    return out


def _shape(row):
    d = row.data
    if d.latent:
        return (4, d.resolution // 8, d.resolution // 8)
    return (d.channels, d.resolution, d.resolution)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--skip-flops", action="store_true")
    a = ap.parse_args()
    from cleanfid.resize import build_resizer

    from repro.eval.fid import FeatureExtractor
    from repro.eval.sample import jpeg_roundtrip
    from repro.eval.stream import streamed_features

    print(f"torch threads {torch.get_num_threads()}, images {a.n} at {a.res}², batch {a.batch}")
    imgs = np.random.default_rng(0).integers(0, 256, (a.n, a.res, a.res, 3), dtype=np.uint8)
    resize = build_resizer("legacy_pytorch")
    net = _inception()
    x299 = torch.rand(a.batch, 3, 299, 299) * 255
    t_jpeg = per_image(jpeg_roundtrip, imgs)
    t_resize = per_image(lambda b: [resize(im.astype(np.float32)) for im in b], imgs[:16])
    with torch.no_grad():
        t_feat = per_image(lambda b: net(b / 255), x299, reps=2)
    print(f"jpeg      {t_jpeg * 1e3:8.2f} ms/image")
    print(f"resize    {t_resize * 1e3:8.2f} ms/image")
    print(f"features  {t_feat * 1e3:8.2f} ms/image (InceptionV3, CPU, batch {a.batch})")
    ext = FeatureExtractor(lambda x: net(x / 255)[0].squeeze(-1).squeeze(-1), "random-inception", "legacy_pytorch")
    for w in (1, 2):
        t0 = time.perf_counter()
        streamed_features(iter([imgs[i:i + a.batch] for i in range(0, a.n, a.batch)]), a.n, ext,
                          batch_size=a.batch, jpeg=True, workers=w)
        dt = time.perf_counter() - t0
        print(f"pipeline  workers={w}: {a.n / dt:7.2f} images/s ({dt / a.n * 1e3:.1f} ms/image, jpeg+resize+features)")
    host = t_jpeg + t_resize
    print(f"host (jpeg+resize) {host * 1e3:.2f} ms/image: 50K in 180 s needs "
          f"{50000 * host / 180:.1f} host cores at this per-core speed")
    if not a.skip_flops:
        for name, (fl, n) in flops_per_sample().items():
            print(f"flops     {name}: {fl / 1e9:.2f} GFLOP/sample forward, {n / 1e6:.1f} M params")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
