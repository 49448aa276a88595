import math

import torch
from torch import nn

from repro.core import (Consistency, diffusion_sigmas, euler_sampler, karras_sigmas, multistep, onestep,
                        sigmas_from_ts)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x, c_noise, class_labels=None):
        return self.conv(x) + 1e-3 * c_noise.reshape(-1, 1, 1, 1)


def test_multistep_single_sigma_is_onestep():
    torch.manual_seed(0)
    f = Consistency(Net())
    z = torch.randn(2, 3, 4, 4)
    assert torch.equal(multistep(f, z, [80.0]), onestep(f, z, 80.0))


def test_multistep_two_steps_by_hand():
    calls = []

    def f(x, sigma, class_labels=None):
        calls.append(sigma.clone())
        return 0.5 * x

    z = torch.randn(2, 5, dtype=torch.float64)
    eps = torch.randn(2, 5, dtype=torch.float64)
    out = multistep(f, z, [80.0, 0.5], sigma_min=0.002, noise=[eps])
    want = 0.5 * (40.0 * z + math.sqrt(0.25 - 0.002**2) * eps)
    assert torch.allclose(out, want, rtol=1e-12)
    assert len(calls) == 2 and calls[1].tolist() == [0.5, 0.5]
    assert torch.allclose(multistep(f, z, [80.0, 0.5], noise=lambda k: eps), want, rtol=1e-12)


def test_sigmas_from_ts_spec_values():
    s = sigmas_from_ts((0, 400, 640), 641)
    assert len(s) == 2 and abs(s[0] - 80.0) < 1e-5 and abs(s[1] - 0.7434) < 1e-4
    assert abs(sigmas_from_ts((0, 420, 640), 641)[1] - 0.5286) < 1e-4


def test_euler_exact_for_constant_denoiser():
    # With D ≡ a, x(σ) = a + σ z solves the PF-ODE and Euler follows it exactly.
    a = torch.randn(2, 3, dtype=torch.float64)
    z = torch.randn(2, 3, dtype=torch.float64)
    sig = diffusion_sigmas(10)
    assert len(sig) == 11 and sig[-1] == 0.0 and abs(sig[0] - 80.0) < 1e-5
    out = euler_sampler(lambda x, s, c=None: a.expand_as(x), z, sig)
    assert torch.allclose(out, a, atol=1e-9)
    assert torch.allclose(euler_sampler(lambda x, s, c=None: torch.zeros_like(x), z, [2.0, 1.0]), z)
    assert karras_sigmas(10).flip(0).tolist() == sig[:-1]
