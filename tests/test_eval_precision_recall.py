"""Improved precision/recall against a brute-force numpy version."""
import numpy as np
import pytest
import torch

from repro.eval.precision_recall import knn_radii, precision_recall, pr_extractor
from repro.io import ReproError


def _brute(real, fake, k=3):
    def radii(a):
        d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]          # column 0 is the point itself
    def cov(q, r, rad):
        d = np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1))
        return (d <= rad[None]).any(1).mean()
    return cov(fake, real, radii(real)), cov(real, fake, radii(fake))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_bruteforce(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(60, 5))
    fake = rng.normal(loc=0.7, scale=1.3, size=(45, 5))
    p, r = precision_recall(real, fake, k=3, tile=7)        # small tiles exercise the merge
    bp, br = _brute(real, fake)
    assert p == pytest.approx(bp, abs=1e-12) and r == pytest.approx(br, abs=1e-12)
    assert 0 < p < 1 and 0 < r < 1


def test_tiled_radii_equal_untiled():
    x = torch.randn(50, 4, dtype=torch.float64)
    torch.testing.assert_close(knn_radii(x, 3, tile=6), knn_radii(x, 3, tile=4096))


def test_identical_sets_and_far_sets():
    x = np.random.default_rng(3).normal(size=(40, 8)).astype(np.float32)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 1000.0) == (0.0, 0.0)


def test_extractor_selection():
    assert pr_extractor("none") is None
    with pytest.raises(ReproError, match="unknown"):
        pr_extractor("lpips_k5")


def test_vgg_missing_is_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    with pytest.raises(ReproError, match="vgg16.pt.*not found.*repro fetch --only vgg16"):
        pr_extractor("vgg16_k3")
