"""Cost of the in-training metric (RuntimeSpec.eval_every / eval_num) as a share of training time.

    python benchmarks/in_training_eval.py [--steps 600] [--skip-demo]
                                          [--paper-rows ict/cifar10/ict/nfe1 slct/t2c/cauchy]
                                          [--batch 4] [--samples 8] [--device cpu]

1. The demo, measured: `demo/digits/nfe1` trained as `repro run` trains it (the launcher's
   metric callback: W2 on eval_num samples every eval_every steps, and at step 0). The loop
   logs each evaluation's seconds (eval_s) and the run's wall time including them, so
   share = sum(eval_s) / wall_s, read from metrics.jsonl.
2. Paper rows, estimated: the row's own network (random init; speed does not depend on the
   weights) timed on this machine for one training sample (repro's step, as
   benchmarks/train_step.py builds it, at per-process batch --batch, on in-memory data of the
   row's shape) and for one evaluation sample (1-NFE sampling, the row's decode (SD-VAE with
   random weights for latent rows) and an Inception-v3 of the real size with random weights
   through clean-fid's feature loop, resized as the row's fid_mode does). Then, at the row's
   RuntimeSpec.eval_every, eval_num and TrainSpec.batch_size:
       share = eval_num * t_eval / (eval_every * batch * t_train + eval_num * t_eval)
   This assumes the GPU keeps the CPU's ratio of evaluation to training cost per sample; the
   printed t_train and t_eval let you redo it with GPU figures.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def demo(steps: int, device: str) -> dict:
    from repro.launch.in_training import metric_callback
    from repro.rows import load_row
    from repro.train import train_row

    row = load_row("demo/digits/nfe1")
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / row.training_key
        t0 = time.perf_counter()
        train_row(row, run, max_steps=steps, progress=False, device=device,
                  on_eval=metric_callback(row, run, device=device))
        total = time.perf_counter() - t0
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "metric" in x]
    curve = [x for x in lines if "loss" in x]
    wall = curve[-1]["wall_s"]
    ev = sum(x["eval_s"] for x in evals)
    later = [x["eval_s"] for x in evals if x["step"] > 0]
    return {"steps": steps, "every": row.runtime.eval_every, "num": row.runtime.eval_num,
            "evals": len(evals), "eval_s": ev, "wall_s": wall, "share": ev / wall,
            "first_eval_s": evals[0]["eval_s"], "median_eval_s": statistics.median(later),
            "process_s": total, "metric": [(x["step"], round(x["metric"], 1)) for x in evals]}


def _inception_extractor(mode: str):
    import torchvision

    from repro.eval.fid import FeatureExtractor

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
    net.fc = torch.nn.Identity()

    def fn(x):
        # clean-fid's legacy_tensorflow mode leaves the resize to 299 to its TF-Inception: do it here
        if x.shape[-1] != 299:
            x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        with torch.no_grad():
            return net((x / 255.0 - 0.5) / 0.5)
    return FeatureExtractor(fn, "inception-v3 (random weights, timing stand-in)", mode)


def paper_row(row_id: str, batch: int, samples: int, device: str) -> dict:
    import train_step as ts   # benchmarks/train_step.py: repro's step built as train_row builds it

    from repro.eval.fid import cleanfid_features
    from repro.eval.sample import sample_batches, to_uint8
    from repro.rows import load_row
    from repro.train import build

    row = load_row(row_id)
    dev = torch.device(device)
    shape = (4, row.data.resolution // 8, row.data.resolution // 8) if row.data.latent else \
        (row.data.channels, row.data.resolution, row.data.resolution)
    # the training step: median of 3 after a warm-up
    data = ts.Latents(max(4 * batch, 16), shape)
    run, f = ts.build_ours(row, data, dev, batch)
    times = []
    for step in range(4):
        idx = torch.arange(step * batch, (step + 1) * batch) % len(data)
        t0 = time.perf_counter()
        run(step, idx)
        ts._sync(dev)
        times.append(time.perf_counter() - t0)
    t_train = statistics.median(times[1:]) / batch
    params = sum(p.numel() for p in f.parameters())
    # one evaluation sample: sampling + decode + features
    f.eval()
    del run
    if row.data.latent:
        from repro.data.trainset import latent_from_model
        from repro.data.vae import build_vae

        vae = build_vae(device=dev)
        zero, one = np.zeros(shape, np.float32), np.ones(shape, np.float32)
        decode = latent_from_model(zero, one, True, lambda *_: vae)
    else:
        decode = to_uint8
    ext = _inception_extractor(row.eval.fid_mode)
    sigmas = list(row.eval.sigmas)[:1]
    with torch.no_grad():
        list(sample_batches(f, 2, 2, shape, sigmas, 0, dev))          # warm-up
        t0 = time.perf_counter()
        imgs = [np.asarray(decode(x)) for x in sample_batches(f, samples, samples, shape, sigmas, 42, dev)]
        t_gen = time.perf_counter() - t0
        cleanfid_features([imgs[0][:2]], 2, ext, 2, device, mode=row.eval.fid_mode)   # warm-up
        t0 = time.perf_counter()
        cleanfid_features(iter(imgs), samples, ext, samples, device, mode=row.eval.fid_mode)
        t_feat = time.perf_counter() - t0
    t_eval = (t_gen + t_feat) / samples
    rt, every, num = row.runtime, row.runtime.eval_every, row.runtime.eval_num
    train_between = every * row.train.batch_size * t_train
    share = num * t_eval / (train_between + num * t_eval)
    return {"row": row_id, "params_M": params / 1e6, "batch": batch, "t_train_sample_s": t_train,
            "t_gen_sample_s": t_gen / samples, "t_feat_sample_s": t_feat / samples,
            "t_eval_sample_s": t_eval, "eval_every": every, "eval_num": num,
            "row_batch": row.train.batch_size, "total_steps": row.total_steps,
            "evals_per_run": row.total_steps // every if every else 0, "share": share,
            "runtime": dataclasses.asdict(rt)["eval_every"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="demo training steps (the row's K: 600)")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--paper-rows", nargs="*", default=["ict/cifar10/ict/nfe1", "slct/t2c/cauchy"])
    ap.add_argument("--batch", type=int, default=4, help="per-process batch for the paper-row step")
    ap.add_argument("--samples", type=int, default=8, help="evaluation samples timed per paper row")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    import os

    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, device {a.device}")
    if not a.skip_demo:
        r = demo(a.steps, a.device)
        print(f"demo/digits: {r['steps']} steps, W2 on {r['num']} samples every {r['every']} steps "
              f"(+ step 0): {r['evals']} evaluations, {r['eval_s']:.1f} s of {r['wall_s']:.1f} s "
              f"wall = {100 * r['share']:.1f}% (first {r['first_eval_s']:.2f} s, then median "
              f"{r['median_eval_s']:.2f} s each)")
        print(f"  metric by step: {r['metric']}")
    for rid in a.paper_rows:
        r = paper_row(rid, a.batch, a.samples, a.device)
        print(f"{rid}: {r['params_M']:.1f} M params; train {r['t_train_sample_s']:.3f} s/sample "
              f"(batch {r['batch']}); eval {r['t_eval_sample_s']:.3f} s/sample (generate+decode "
              f"{r['t_gen_sample_s']:.3f}, features {r['t_feat_sample_s']:.3f}); at eval_every "
              f"{r['eval_every']}, eval_num {r['eval_num']}, batch {r['row_batch']}: "
              f"{r['evals_per_run']} evaluations per run, estimated share {100 * r['share']:.3f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
