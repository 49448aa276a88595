import math

import numpy as np
import pytest
import torch
from scipy import stats

from repro.core import karras_sigmas, lognormal_index_probs, sample_indices, uniform_index_probs


def test_karras_endpoints_monotone_and_middle():
    for n in (2, 11, 641, 1281):
        s = karras_sigmas(n)
        assert s.dtype == torch.float32 and s.shape == (n,)
        assert s[0].item() == np.float32(0.002) and s[-1].item() == np.float32(80.0)
        assert bool((s[1:] > s[:-1]).all())
    s3 = karras_sigmas(3)
    mid = ((0.002 ** (1 / 7) + 80 ** (1 / 7)) / 2) ** 7
    assert math.isclose(s3[1].item(), mid, rel_tol=1e-6)


def test_karras_matches_spec_grid_values():
    # The LCT eval scripts' descending indices 400/440/460/420 of a 641-grid.
    desc = karras_sigmas(641).flip(0)
    for j, want in ((400, 0.7434), (440, 0.3693), (460, 0.2531), (420, 0.5286)):
        assert abs(desc[j].item() - want) < 1e-4


def _scipy_probs(sig, p_mean=-1.1, p_std=2.0):
    cdf = stats.norm.cdf(np.log(np.asarray(sig, dtype=np.float64)), loc=p_mean, scale=p_std)
    p = np.diff(cdf)
    return p / p.sum()


@pytest.mark.parametrize("n", [11, 81, 1281])
def test_lognormal_probs_match_scipy(n):
    sig = karras_sigmas(n)
    p = lognormal_index_probs(sig).numpy()
    assert p.shape == (n - 1,)
    np.testing.assert_allclose(p, _scipy_probs(sig.numpy()), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(lognormal_index_probs(sig, 0.3, 1.0).numpy(),
                               _scipy_probs(sig.numpy(), 0.3, 1.0), rtol=1e-9, atol=1e-15)


def test_uniform_probs():
    np.testing.assert_allclose(uniform_index_probs(5).numpy(), [0.25] * 4)


def test_sampled_histogram_matches_probs():
    n, draws = 11, 200_000
    sig = karras_sigmas(n)
    g = torch.Generator().manual_seed(1234)
    i = sample_indices("lognormal", sig, draws, generator=g)
    assert i.dtype == torch.long and int(i.min()) >= 0 and int(i.max()) <= n - 2
    counts = np.bincount(i.numpy(), minlength=n - 1)
    expected = _scipy_probs(sig.numpy()) * draws
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.9999, df=n - 2)


def test_sampling_is_reproducible_and_uniform_kind():
    sig = karras_sigmas(21)
    a = sample_indices("uniform", sig, 64, generator=torch.Generator().manual_seed(0))
    b = sample_indices("uniform", sig, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and int(a.max()) <= 19
    with pytest.raises(ValueError):
        sample_indices("bogus", sig, 4)
