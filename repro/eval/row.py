"""Evaluation of one row: its sampler, decode, class labels and protocol around `evaluate`.

`evaluate_row(row, f, out_dir)` samples a consistency function the way the row says and scores
it; `demo_baselines` scores an untrained network and held-out real data the same way, for the
demo metrics (the pixel-space W2 / Fréchet distance of the digits rows).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from repro.io import ReproError
from repro.specs import Row

DEMO_METRICS = ("w2_pixels", "fd_pixels")


def evaluate_row(row: Row, f, out_dir, num=None, device="cpu", progress=True, seed=None,
                 save_images=False) -> dict:
    """Sample `f` with the row's sampler and score it with the row's protocol."""
    from repro.data import open_train_set
    from repro.eval.evaluate import evaluate
    from repro.eval.sample import uniform_class_sampler

    spec = row.eval if seed is None else dataclasses.replace(row.eval, seed=seed)
    if row.loss.objective == "diffusion":
        from repro.core.samplers import EulerTrajectory

        # The whole Euler trajectory is one call of the sampler, started at sigma_max * z.
        f = EulerTrajectory(f, spec.nfe, row.loss.sigma_min, row.loss.sigma_max, row.loss.rho)
        spec = dataclasses.replace(spec, sigmas=(row.loss.sigma_max,))
    data = open_train_set(row.data)
    real = real_images(row, data) if spec.metric in DEMO_METRICS else None
    decode = data.decoder if row.data.latent or row.data.name == "digits" else None
    if decode is not None:
        decode = _on_device(decode, device, spec.vae_dtype)
    classes = uniform_class_sampler(row.model.label_dim, spec.seed) if row.model.label_dim else None
    return evaluate(f, spec, data.shape, out_dir, decode=decode, real=real, num=num, device=device,
                    progress=progress, class_sampler=classes, save_images=save_images)


def _on_device(decoder, device, vae_dtype: str):
    """The row's decoder bound to the evaluation device; a VAE decoder gets its VAE here, once per
    evaluation (from the process cache, so rows sharing a training reuse it)."""
    import functools

    from repro.data.trainset import VAE_DECODE, Decoder

    kw = {"device": device}
    if decoder.name == VAE_DECODE:
        from repro.data.vae import eval_vae

        kw["vae"] = eval_vae(device, vae_dtype)
    # A dtype other than the reference's fp32 is part of what the record must show.
    name = decoder.name if decoder.name != VAE_DECODE or vae_dtype == "fp32" else f"{decoder.name}@{vae_dtype}"
    return Decoder(functools.partial(decoder.fn, **kw), name)


def real_images(row: Row, data):
    """Held-out real images as uint8 NHWC, through the same decode as the samples."""
    if row.data.name not in ("digits", "synthetic"):
        raise ReproError(f"EvalSpec.metric='{row.eval.metric}' needs held-out images; only the 'digits' "
                         f"dataset provides them; use metric 'fid' for {row.data.name}")
    from repro.data.toy import heldout_model_space

    return data.decode(heldout_model_space(row.data.name, data.shape, len(data), row.data.latent))


def demo_baselines(row: Row, out_dir, device="cpu") -> dict:
    """Untrained network and real held-out data, scored exactly like the trained model."""
    from repro.data import open_train_set
    from repro.eval import demo_metrics
    from repro.train.build import initial_function

    untrained = initial_function(row).to(device).eval()
    u = evaluate_row(row, untrained, Path(out_dir) / "untrained", device=device, progress=False)
    data = open_train_set(row.data)
    real = real_images(row, data)
    n = min(len(real), len(data))
    train_imgs = data.decode(data.batch(torch.arange(n))[0])
    metric = getattr(demo_metrics, row.eval.metric)
    return {f"{row.eval.metric}_untrained": u["metrics"][row.eval.metric],
            f"{row.eval.metric}_heldout_baseline": float(metric(train_imgs[:n], real[:n]))}
