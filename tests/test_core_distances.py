import math

import numpy as np
import pytest
import torch

from repro.core import DISTANCES, MissingDependencyError
from repro.io import ReproError


def _s(x, y, reduction):
    r = (x.astype(np.float64) - y.astype(np.float64)).reshape(len(x), -1)
    s = (r**2).sum(1)
    return s / r.shape[1] if reduction == "mean" else s


def _np_huber(s, c):
    a = np.sqrt(s)
    return np.where(a <= c, 0.5 * a**2, c * (a - 0.5 * c))


FORMULAS = {
    "l2": lambda s, c: s,
    "pseudo_huber": lambda s, c: np.sqrt(s + c**2) - c,
    "huber": _np_huber,
    "cauchy": lambda s, c: np.log(1 + s / (2 * c**2)),
    "geman_mcclure": lambda s, c: 2 * s / (s + 4 * c**2),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_distance_matches_numpy(name, reduction):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4, 4, 4)).astype(np.float32)
    y = x + rng.normal(scale=[[[[0.001]]], [[[0.01]]], [[[0.1]]], [[[1.0]]], [[[3.0]]]], size=x.shape).astype(np.float32)
    c = 0.3
    got = DISTANCES[name](torch.from_numpy(x), torch.from_numpy(y), c, reduction)
    assert got.shape == (5,) and got.dtype == torch.float32
    want = FORMULAS[name](_s(x, y, reduction), c)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=1e-9)


def test_huber_hits_both_branches_and_is_continuous():
    c = 0.5
    for a, want in ((0.3, 0.5 * 0.09), (2.0, 0.5 * (2.0 - 0.25))):
        x = torch.tensor([[a, 0.0]])
        assert math.isclose(DISTANCES["huber"](x, torch.zeros_like(x), c, "sum").item(), want, rel_tol=1e-6)
    at = torch.tensor([[c]])
    assert math.isclose(DISTANCES["huber"](at, torch.zeros_like(at), c, "sum").item(), 0.125, rel_tol=1e-6)


def test_gradients_finite_at_zero_residual():
    for name in FORMULAS:
        x = torch.zeros(2, 3, requires_grad=True)
        DISTANCES[name](x, torch.zeros(2, 3), 0.1, "sum").sum().backward()
        assert torch.isfinite(x.grad).all(), name


def test_small_s_limits():
    c = 0.1
    x = torch.full((1, 8), 1e-4, dtype=torch.float64)
    s = 8e-8
    got = DISTANCES["pseudo_huber"](x, torch.zeros_like(x), c, "sum").item()
    assert math.isclose(got, s / (2 * c), rel_tol=1e-4)
    assert math.isclose(DISTANCES["cauchy"](x, torch.zeros_like(x), c, "sum").item(), s / (2 * c**2), rel_tol=1e-4)
    assert math.isclose(DISTANCES["geman_mcclure"](x, torch.zeros_like(x), c, "sum").item(), s / (2 * c**2), rel_tol=1e-4)


def test_bf16_inputs_computed_in_fp32():
    x = torch.randn(3, 16).to(torch.bfloat16)
    y = torch.randn(3, 16).to(torch.bfloat16)
    got = DISTANCES["cauchy"](x, y, 0.05, "mean")
    assert got.dtype == torch.float32
    want = FORMULAS["cauchy"](_s(x.float().numpy(), y.float().numpy(), "mean"), 0.05)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_e_latent_lpips_raises_clear_error():
    x = torch.zeros(1, 4, 2, 2)
    with pytest.raises(MissingDependencyError) as e:
        DISTANCES["e_latent_lpips"](x, x, 0.1, "mean")
    assert isinstance(e.value, NotImplementedError) and isinstance(e.value, ReproError)
    assert "LossSpec.distance='e_latent_lpips'" in str(e.value) and "elatentlpips" in str(e.value)
