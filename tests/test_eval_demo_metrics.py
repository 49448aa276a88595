"""w2_pixels against permutation enumeration; fd_pixels against frechet_distance."""
import itertools

import numpy as np
import pytest

from repro.eval.demo_metrics import fd_pixels, w2_pixels
from repro.eval.fid import feature_stats, frechet_distance


def test_w2_equals_best_permutation():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    y = rng.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    a, b = x.reshape(6, -1).astype(float), y.reshape(6, -1).astype(float)
    best = min(np.mean([((a[i] - b[p[i]]) ** 2).sum() for i in range(6)])
               for p in itertools.permutations(range(6)))
    assert w2_pixels(x, y) == pytest.approx(np.sqrt(best), rel=1e-10)


def test_w2_zero_on_same_set_in_another_order_and_translation():
    x = np.random.default_rng(1).normal(size=(7, 3, 4, 4))
    assert w2_pixels(x, x[::-1]) == pytest.approx(0.0, abs=1e-9)
    # translating every image by c moves W2 by exactly ||c||
    assert w2_pixels(x, x + 0.5) == pytest.approx(0.5 * np.sqrt(48), rel=1e-10)


def test_fd_pixels():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 1, 3, 3)), rng.normal(1, 2, size=(40, 1, 3, 3))
    ref = frechet_distance(*feature_stats(x.reshape(50, -1)), *feature_stats(y.reshape(40, -1)))
    assert fd_pixels(x, y) == pytest.approx(ref)
    assert fd_pixels(x, x) == pytest.approx(0.0, abs=1e-8)
