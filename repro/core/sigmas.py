"""Karras noise grid and the time-step (index) samplers of iCT sec. 3.5."""
from __future__ import annotations

import math

import torch

from repro.core.registry import Registry

# Index samplers: (sigmas, p_mean, p_std) -> probabilities of the n-1 adjacent pairs.
INDEX_SAMPLERS = Registry("index sampler", binding="LossSpec.index_sampler")


def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """Ascending Karras grid σ_1..σ_N (EDM eq. 5), float32 of shape (n,).

    Computed in float64; the endpoints are set exactly so that the fp32 σ_1 equals
    float32(σ_min) and the boundary condition f(x, σ_1) = x is exact.
    """
    n = int(n)
    if n < 2:
        raise ValueError(f"karras_sigmas: need n >= 2 points, got {n}")
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    ramp = torch.arange(n, dtype=torch.float64) / (n - 1)
    sig = (lo + ramp * (hi - lo)) ** rho
    sig[0], sig[-1] = sigma_min, sigma_max
    return sig.to(torch.float32)


@INDEX_SAMPLERS.register("lognormal")
def lognormal_index_probs(sigmas: torch.Tensor, p_mean: float = -1.1, p_std: float = 2.0) -> torch.Tensor:
    """p(i) ∝ erf((ln σ_{i+1} − P_mean)/(√2 P_std)) − erf((ln σ_i − P_mean)/(√2 P_std)).

    iCT sec. 3.5 ("discretised lognormal"). Returns float64 (n-1,), summing to 1.
    """
    log_sig = torch.log(torch.as_tensor(sigmas, dtype=torch.float64).cpu())
    cdf = torch.special.erf((log_sig - p_mean) / (math.sqrt(2.0) * p_std))
    p = cdf[1:] - cdf[:-1]
    return p / p.sum()


def uniform_index_probs(n: int) -> torch.Tensor:
    """Uniform over the n−1 adjacent pairs (CM-style and LDM baselines)."""
    return torch.full((int(n) - 1,), 1.0 / (int(n) - 1), dtype=torch.float64)


@INDEX_SAMPLERS.register("uniform")
def _uniform(sigmas: torch.Tensor, p_mean: float = -1.1, p_std: float = 2.0) -> torch.Tensor:
    return uniform_index_probs(len(sigmas))


def index_probs(kind: str, sigmas: torch.Tensor, p_mean: float = -1.1, p_std: float = 2.0) -> torch.Tensor:
    return INDEX_SAMPLERS[kind](sigmas, p_mean, p_std)


def sample_indices(kind: str, sigmas: torch.Tensor, batch: int, generator: torch.Generator | None = None,
                   p_mean: float = -1.1, p_std: float = 2.0, probs: torch.Tensor | None = None) -> torch.Tensor:
    """Indices i in [0, n−2], drawn with replacement; the pair is (sigmas[i], sigmas[i+1]).

    Drawn on the generator's device (a torch.Generator is tied to one device) and returned on
    sigmas' device. `probs` lets callers pass a cached index_probs(...) result.
    """
    if probs is None:
        probs = index_probs(kind, sigmas, p_mean, p_std)
    dev = generator.device if generator is not None else probs.device
    idx = torch.multinomial(probs.to(dev), int(batch), replacement=True, generator=generator)
    return idx.to(torch.as_tensor(sigmas).device)
