"""Samplers: CM one-step and stochastic multistep (CM Algorithm 1), EDM Euler for the LDM-8† baseline."""
from __future__ import annotations

import math

import torch

from .sigmas import karras_sigmas


def _full(sigma: float, z: torch.Tensor) -> torch.Tensor:
    return torch.full((z.shape[0],), float(sigma), dtype=torch.float32, device=z.device)


@torch.no_grad()
def onestep(f, z: torch.Tensor, sigma_max: float = 80.0, class_labels=None) -> torch.Tensor:
    """x = f_θ(σ_max·z, σ_max) (CM Algorithm 1 with one step; LCT `sample_onestep`)."""
    return f(float(sigma_max) * z, _full(sigma_max, z), class_labels)


@torch.no_grad()
def multistep(f, z: torch.Tensor, sigmas, sigma_min: float = 0.002, noise=None, class_labels=None):
    """CM stochastic iterative sampler (CM Algorithm 1). NFE = len(sigmas).

    sigmas is descending, sigmas[0] = σ_max. Between evaluations the sample is re-noised to
    the next σ': x = x0 + sqrt(σ'² − σ_min²)·ε_k, where the total noise level is σ' because
    x0 already carries σ_min. `noise` is a list of tensors or a callable k -> tensor, so the
    caller controls the seeds; None draws from the global RNG.
    """
    sigmas = [float(s) for s in sigmas]
    x = sigmas[0] * z
    x0 = None
    for k, sigma in enumerate(sigmas):
        x0 = f(x, _full(sigma, z), class_labels)
        if k + 1 < len(sigmas):
            if noise is None:
                eps = torch.randn_like(z)
            else:
                eps = noise(k) if callable(noise) else noise[k]
            nxt = sigmas[k + 1]
            x = x0 + math.sqrt(max(nxt**2 - sigma_min**2, 0.0)) * eps
    return x0


def sigmas_from_ts(ts, steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
    """CM-style `ts` indices into a descending Karras grid of `steps` points -> sampler sigmas.

    The last entry of ts (steps−1, i.e. σ_min) only ends the loop in the CM code — its
    re-noise is sqrt(σ_min² − σ_min²) = 0 — so it is dropped: ts=(0, m, steps−1) gives 2 NFE.
    """
    grid = karras_sigmas(steps, sigma_min, sigma_max, rho).flip(0)
    return [float(grid[t]) for t in list(ts)[:-1]]


def diffusion_sigmas(steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
    """Descending Karras grid of `steps` points with a final 0, for euler_sampler (steps NFE)."""
    return karras_sigmas(steps, sigma_min, sigma_max, rho).flip(0).tolist() + [0.0]


@torch.no_grad()
def euler_sampler(d, z: torch.Tensor, sigmas, class_labels=None) -> torch.Tensor:
    """Deterministic Euler on the PF-ODE dx/dσ = (x − D(x, σ))/σ (EDM eq. 3, Alg. 1 without
    the Heun correction). sigmas descends and ends at 0; NFE = len(sigmas) − 1."""
    sigmas = [float(s) for s in sigmas]
    x = sigmas[0] * z
    for sigma, nxt in zip(sigmas[:-1], sigmas[1:]):
        slope = (x - d(x, _full(sigma, z), class_labels)) / sigma
        x = x + (nxt - sigma) * slope
    return x


class EulerTrajectory(torch.nn.Module):
    """A denoiser run through `steps` Euler steps on the Karras grid, as one call of the
    consistency sampler started at sigma_max * z (the LDM-8† baseline of sLCT Table 1)."""

    def __init__(self, d, steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        super().__init__()
        self.d = d
        self.sigmas = diffusion_sigmas(steps, sigma_min, sigma_max, rho)

    def forward(self, x, sigma, class_labels=None):
        return euler_sampler(self.d, x / self.sigmas[0], self.sigmas, class_labels=class_labels)
