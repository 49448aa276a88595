"""w2_pixels against permutation enumeration; fd_pixels against frechet_distance."""
import itertools

import numpy as np
import pytest

from repro.eval.demo_metrics import fd_pixels, w2_pixels
from repro.eval.fid import feature_stats, frechet_distance
from helpers.rounding import fd_rounding


def _cost_rounding(x, y) -> float:
    """Bound on the float64 rounding of every entry of POT's cost ||a||² + ||b||² − 2 a·b.

    Each length-d dot product is off by at most γ_d ||a|| ||b|| ≈ (d/2) eps ||a|| ||b|| in any
    summation order (any BLAS, SIMD width or thread count), and the two additions by eps/2 of
    their sums: in all 2 (d + 2) eps R² with R the largest row norm."""
    a, b = x.reshape(len(x), -1), y.reshape(len(y), -1)
    r2 = max((a * a).sum(1).max(), (b * b).sum(1).max())
    return 2 * (a.shape[1] + 2) * np.finfo(np.float64).eps * r2


def test_w2_equals_best_permutation():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    y = rng.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    a, b = x.reshape(6, -1).astype(float), y.reshape(6, -1).astype(float)
    best = min(np.mean([((a[i] - b[p[i]]) ** 2).sum() for i in range(6)])
               for p in itertools.permutations(range(6)))
    # uint8 pixels: every cost is an integer below 2^53, exact in float64 in any summation order;
    # only the 1/6 weights round, so both sides agree to a few eps, far inside 1e-10
    assert w2_pixels(x, y) == pytest.approx(np.sqrt(best), rel=1e-10)


def test_w2_zero_on_same_set_in_another_order_and_translation():
    x = np.random.default_rng(1).normal(size=(7, 3, 4, 4))
    # W2² is a mean of costs that are 0 only up to their rounding (W2 = 6e-8 on one BLAS, exactly
    # 0 on another), and the square root magnifies it: W2 <= sqrt(cost rounding), here 1e-6.
    # Pairing any two images wrongly would give W2 > 1.
    assert w2_pixels(x, x[::-1]) <= np.sqrt(_cost_rounding(x, x))
    # Translating every image by c moves W2 by exactly ||c|| (the identity pairing is optimal by
    # a wide margin). Relative error: the cost rounding over ||c||² = 12, plus the 7² products
    # of emd2's plan·cost sum.
    c2, n = 0.25 * 48, len(x)
    rel = _cost_rounding(x, x + 0.5) / c2 + n * n * np.finfo(np.float64).eps
    assert w2_pixels(x, x + 0.5) == pytest.approx(np.sqrt(c2), rel=rel)


def test_fd_pixels():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 1, 3, 3)), rng.normal(1, 2, size=(40, 1, 3, 3))
    ref = frechet_distance(*feature_stats(x.reshape(50, -1)), *feature_stats(y.reshape(40, -1)))
    assert fd_pixels(x, y) == pytest.approx(ref)
    mu, s = feature_stats(x.reshape(50, -1))
    assert abs(fd_pixels(x, x)) <= fd_rounding(mu, s, mu, s)      # zero up to the eigensolver's rounding
