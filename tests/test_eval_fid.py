"""Fréchet distance against independent computations; feature statistics."""
import numpy as np
import pytest
from scipy import linalg

from repro.eval.fid import feature_stats, frechet_distance
from helpers.rounding import fd_rounding


def _scipy_fd(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    d = mu1 - mu2
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed, rel=1e-10)


def test_matches_scipy_sqrtm_and_cleanfid_on_random_covariances():
    from cleanfid.fid import frechet_distance as cf_fd
    rng = np.random.default_rng(1)
    d = 32
    a, b = rng.normal(size=(d, 2 * d)), rng.normal(size=(d, 2 * d))
    s1, s2 = a @ a.T / (2 * d), b @ b.T / (2 * d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    ours = frechet_distance(mu1, s1, mu2, s2)
    # Other algorithms (Schur sqrtm of the non-symmetric S1 S2): both within ~1e-13 of the true
    # value for these well-conditioned covariances (cond < 100); 1e-8 leaves room for LAPACK
    # differences and still catches a wrong formula, which moves FD by O(1).
    assert ours == pytest.approx(_scipy_fd(mu1, s1, mu2, s2), rel=1e-8)
    assert ours == pytest.approx(cf_fd(mu1, s1, mu2, s2), rel=1e-8)


def test_same_gaussian_is_zero_and_symmetric():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(8, 8))
    s = a @ a.T
    mu = rng.normal(size=8)
    # Zero and symmetric only up to rounding, which the smallest eigenvalue (2.6e-3 here, cond 8e3)
    # magnifies: a few 1e-10 (rounding.fd_rounding)
    assert abs(frechet_distance(mu, s, mu, s)) <= fd_rounding(mu, s, mu, s)
    s2 = s + np.eye(8)
    swapped = frechet_distance(mu + 1, s2, mu, s)
    tol = fd_rounding(mu, s, mu + 1, s2) + fd_rounding(mu + 1, s2, mu, s)
    assert frechet_distance(mu, s, mu + 1, s2) == pytest.approx(swapped, abs=tol)


def test_singular_covariances_stay_finite():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))   # fewer samples than dims
    fd = frechet_distance(*feature_stats(x), *feature_stats(y))
    assert np.isfinite(fd) and fd > 0


def test_feature_stats_float64_unbiased():
    x = np.random.default_rng(4).normal(size=(100, 3)).astype(np.float32)
    mu, s = feature_stats(x)
    assert mu.dtype == np.float64 and s.shape == (3, 3)
    np.testing.assert_allclose(s, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)
    with pytest.raises(ValueError):
        feature_stats(x[:1])
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
