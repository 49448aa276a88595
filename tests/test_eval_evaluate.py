"""evaluate(): end to end with the random extractor (FID path) and the demo metrics."""
import dataclasses
import json

import numpy as np
import pytest

from helpers.eval_fakes import random_extractor, random_images, toy_f
from repro.eval.evaluate import evaluate
from repro.eval.refstats import load_stats
from repro.io import ReproError
from repro.specs import EvalSpec

SHAPE = (3, 16, 16)


def _spec(**kw):
    base = dict(nfe=2, sigmas=(80.0, 0.821), num_samples=24, batch_size=10, metric="fid",
                fid_mode="legacy_tensorflow", reference="toyset", gen_format="png", seed=7,
                ema=0.999)
    base.update(kw)
    return EvalSpec(**base)


def test_fid_evaluation_deterministic(tmp_path):
    real = random_images(30, seed=3)
    kw = dict(feature_extractor=random_extractor(), reference_source=real,
              cache_dir=tmp_path / "stats", progress=False)
    r1 = evaluate(toy_f, _spec(), SHAPE, tmp_path / "a", **kw)
    r2 = evaluate(toy_f, _spec(batch_size=7), SHAPE, tmp_path / "b", **kw)
    # Batch size does not matter, bit for bit: toy_f is elementwise, each sample has its own noise,
    # and the extractor sees one image at a time (helpers/eval_fakes.py). A batched extractor's
    # features would differ by conv rounding, and FID from singular covariances (24 samples, 32
    # features) magnifies that to sqrt(eps) size, which depends on the CPU.
    assert r2["metrics"]["fid"] == r1["metrics"]["fid"]
    s1, s2 = load_stats(tmp_path / "a" / "gen_stats.npz"), load_stats(tmp_path / "b" / "gen_stats.npz")
    np.testing.assert_array_equal(s1.mu, s2.mu)
    np.testing.assert_array_equal(s1.sigma, s2.sigma)
    r3 = evaluate(toy_f, _spec(), SHAPE, tmp_path / "c", **kw)
    assert r3["artifacts"]["gen_stats_sha256"] == r1["artifacts"]["gen_stats_sha256"]
    assert r1["metrics"]["fid"] == r3["metrics"]["fid"] > 0
    p = r1["protocol"]
    assert p["mode"] == "legacy_tensorflow" and p["nfe"] == 2 and p["seed"] == 7
    assert p["extractor"] == "random-conv-0" and p["reference"]["name"] == "toyset"
    assert len(p["reference"]["hash"]) == 16
    assert (tmp_path / "a" / "grid.png").is_file() and not (tmp_path / "a" / "samples").exists()
    assert r1["throughput"]["samples_per_s"] > 0
    json.dumps(r1)                                    # a result is a plain JSON record


def test_precision_recall_and_jpeg(tmp_path):
    real = random_images(30, seed=3)
    pr = dataclasses.replace(random_extractor(seed=2), mode="native")
    r = evaluate(toy_f, _spec(precision_recall="vgg16_k3", gen_format="jpg", nfe=1, sigmas=(80.0,)),
                 SHAPE, tmp_path / "o", feature_extractor=random_extractor(), reference_source=real,
                 cache_dir=tmp_path / "s", pr_feature_extractor=pr, progress=False, save_images=True)
    m = r["metrics"]
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    assert r["protocol"]["gen_format"] == "jpg" and r["protocol"]["pr_extractor"] == "random-conv-2"
    assert len(list((tmp_path / "o" / "samples").glob("*.png"))) == 24


def test_demo_metrics(tmp_path):
    real = random_images(20, res=8, seed=1)
    spec = _spec(metric="w2_pixels", num_samples=20, reference="digits_heldout")
    r = evaluate(toy_f, spec, (3, 8, 8), tmp_path, real=real, progress=False)
    assert r["metrics"]["w2_pixels"] > 0 and r["protocol"]["extractor"] is None
    r2 = evaluate(toy_f, dataclasses.replace(spec, metric="fd_pixels"), (3, 8, 8), tmp_path,
                  real=real, progress=False)
    assert r2["metrics"]["fd_pixels"] > 0


def test_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    with pytest.raises(ReproError, match="not found"):           # before any sampling
        evaluate(toy_f, _spec(), SHAPE, tmp_path, progress=False)
    with pytest.raises(ReproError, match="nfe=1 but 2 sigmas"):
        evaluate(toy_f, _spec(nfe=1), SHAPE, tmp_path, progress=False)
    with pytest.raises(ReproError, match="pass real="):
        evaluate(toy_f, _spec(metric="w2_pixels"), SHAPE, tmp_path, progress=False)


def test_inception_k3_reuses_fid_features(tmp_path):
    real = random_images(30, seed=3)
    r = evaluate(toy_f, _spec(precision_recall="inception_k3"), SHAPE, tmp_path / "o",
                 feature_extractor=random_extractor(), pr_feature_extractor=random_extractor(),
                 reference_source=real, cache_dir=tmp_path / "s", progress=False)
    assert r["protocol"]["pr_extractor"] == r["protocol"]["extractor"] == "random-conv-0"
    assert r["throughput"]["pr_features_s"] == 0.0 and 0 <= r["metrics"]["recall"] <= 1
