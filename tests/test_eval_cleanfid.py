"""The clean-fid path offline: stream -> clean-fid's get_model_features -> stats -> FID."""
import dataclasses
import urllib.request

import numpy as np
import pytest
import torch

from helpers.rounding import fd_rounding
from helpers.eval_fakes import random_extractor, random_images
from repro.eval.fid import cleanfid_features, feature_stats, frechet_distance, inception_extractor
from repro.eval.refstats import load_stats, reference_stats
from repro.io import ReproError


def _refuse_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    _refuse_network(monkeypatch)


def _batches(x, b):
    for s in range(0, len(x), b):
        yield x[s:s + b]


@pytest.mark.parametrize("mode", ["legacy_tensorflow", "legacy_pytorch", "clean"])
def test_fid_self_zero_shift_positive(mode):
    n = 40 if mode == "legacy_tensorflow" else 12       # the 299² resize is slow on CPU
    ext = random_extractor(mode)
    x, y = random_images(n, seed=0), random_images(n, seed=0, shift=40)
    fx = cleanfid_features(_batches(x, 7), n, ext, batch_size=5)   # re-cut 7 -> 5, padded end
    fy = cleanfid_features(_batches(y, 7), n, ext, batch_size=5)
    assert fx.shape == (n, 32)
    # Zero up to rounding, which is sqrt(eps)-sized here: n < 32 features makes the covariance
    # singular (rounding.fd_rounding: ~3e-8 for n = 12)
    mu, s = feature_stats(fx)
    assert abs(frechet_distance(mu, s, mu, s)) <= fd_rounding(mu, s, mu, s)
    assert frechet_distance(*feature_stats(fx), *feature_stats(fy)) > 1e-3


def test_batching_does_not_change_features():
    ext, x = random_extractor(), random_images(23)
    a = cleanfid_features(_batches(x, 23), 23, ext, batch_size=8)
    b = cleanfid_features(_batches(x, 4), 23, ext, batch_size=6)
    np.testing.assert_array_equal(a, b)      # the extractor is batch-invariant (helpers/eval_fakes.py)


def test_legacy_pytorch_resize_is_cleanfids():
    """Features equal the extractor applied to clean-fid's own legacy_pytorch resizer output."""
    from cleanfid.resize import build_resizer
    ext, x = random_extractor("legacy_pytorch"), random_images(3)
    r = build_resizer("legacy_pytorch")
    manual = ext.fn(torch.stack([torch.tensor(r(im.astype(np.float32)).transpose(2, 0, 1))
                                 for im in x])).numpy()
    np.testing.assert_allclose(cleanfid_features([x], 3, ext, batch_size=3), manual, rtol=1e-5)


def test_short_stream_is_an_error():
    with pytest.raises(ReproError, match="ended after 5"):
        cleanfid_features([random_images(5)], 8, random_extractor(), batch_size=4)


def test_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    cleanfid_features([random_images(6)], 6, random_extractor(), batch_size=4)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("mode", ["legacy_pytorch", "clean", "legacy_tensorflow"])
def test_missing_inception_is_offline_error(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    with pytest.raises(ReproError, match=f"Inception weights for clean-fid mode {mode} not found"
                                         f".*repro fetch --only inception"):
        inception_extractor(mode)


def test_cached_pytorch_inception_loads_without_network(tmp_path, monkeypatch):
    """legacy_pytorch builds pytorch-fid's Inception from the cached state dict only."""
    import torchvision
    from cleanfid.inception_pytorch import InceptionV3
    import cleanfid.inception_pytorch as ip
    # Build the architecture once, loading disabled, and capture its state dict (random init):
    # it stands in for the real weights file in the cache.
    monkeypatch.setattr(ip, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(torchvision.models.Inception3, "load_state_dict", lambda self, sd: None)
    captured = {}
    orig = ip.fid_inception_v3

    def capture():
        m = orig()
        captured["sd"] = m.state_dict()
        return m
    monkeypatch.setattr(ip, "fid_inception_v3", capture)
    InceptionV3(output_blocks=[3], resize_input=False)
    monkeypatch.undo()
    path = tmp_path / "inception" / "pt_inception-2015-12-05-6726825d.pth"
    path.parent.mkdir()
    torch.save(captured["sd"], path)
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    _refuse_network(monkeypatch)     # undo() above removed the autouse fixture's patches
    ext = inception_extractor("legacy_pytorch")
    assert ext.id == "inception-pytorch"
    out = ext.fn(torch.rand(1, 3, 299, 299) * 255)
    assert out.shape == (1, 2048)


def test_reference_stats_cached_and_checked(tmp_path):
    ext, real = random_extractor(), random_images(30, seed=5)
    rs = reference_stats("toyset", real, ext, cache_dir=tmp_path, batch_size=8)
    assert rs.path.is_file() and rs.meta["mode"] == "legacy_tensorflow"
    again = reference_stats("toyset", real, ext, cache_dir=tmp_path, batch_size=8)
    np.testing.assert_array_equal(rs.sigma, again.sigma)
    np.testing.assert_allclose(rs.mu, feature_stats(cleanfid_features([real], 30, ext, 8))[0], rtol=1e-6)
    # Another mode or extractor gets its own file, never this one.
    other = reference_stats("toyset", real, random_extractor(seed=1), cache_dir=tmp_path, batch_size=8)
    assert other.path != rs.path
    # A stats file asked for with another protocol is refused with one line naming both.
    with pytest.raises(ReproError, match="computed for dataset=toyset.*mode=legacy_tensorflow.*"
                                         "asked for.*mode=clean") as e:
        load_stats(rs.path, dict(rs.meta, mode="clean"))
    assert "\n" not in str(e.value)


def test_prepared_dataset_and_precomputed_refusal(tmp_path, monkeypatch):
    import json
    d = tmp_path / "data" / "toyset"
    d.mkdir(parents=True)
    np.save(d / "images.npy", random_images(10))
    (d / "manifest.json").write_text(json.dumps({"dataset": "toyset", "count": 10, "images_sha256": "ab"}))
    rs = reference_stats("toyset", d, random_extractor(), cache_dir=tmp_path / "s", batch_size=4)
    assert rs.meta["data_hash"] == "ab:10"
    # Published CIFAR-10 stats are legacy_tensorflow / torchscript Inception only.
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    p = tmp_path / "stats" / "cifar10_legacy_tensorflow_train_32.npz"
    p.parent.mkdir()
    np.savez(p, mu=np.zeros(4), sigma=np.eye(4))
    from repro.eval.fid import FeatureExtractor
    ok = reference_stats("cifar10_train", None, FeatureExtractor(None, "inception-torchscript", "legacy_tensorflow"))
    assert ok.meta["precomputed"] == str(p)
    with pytest.raises(ReproError, match="computed for dataset=cifar10_train mode=legacy_tensorflow"):
        reference_stats("cifar10_train", None, FeatureExtractor(None, "inception-pytorch", "legacy_pytorch"))
    with pytest.raises(ReproError, match="repro data prepare celebahq256"):
        reference_stats("celebahq256", None, random_extractor())


def test_adm_reference_batch_gives_published_stats_and_image_features(tmp_path, monkeypatch):
    from repro.eval.fid import FeatureExtractor
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    p = tmp_path / "stats" / "VIRTUAL_imagenet64_labeled.npz"
    p.parent.mkdir()
    np.savez(p, arr_0=random_images(9), mu=np.ones(32), sigma=np.eye(32))
    ext = dataclasses.replace(random_extractor(), id="inception-torchscript")
    rs = reference_stats("imagenet64_adm_virtual", None, ext, keep_features=True,
                         cache_dir=tmp_path / "c", batch_size=4)
    np.testing.assert_array_equal(rs.mu, np.ones(32))          # FID uses the published stats
    np.testing.assert_allclose(rs.features, cleanfid_features([random_images(9)], 9, ext, 4), rtol=1e-6)
