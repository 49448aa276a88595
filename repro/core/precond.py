"""Consistency-model parameterisation f_θ(x, σ) = c_skip(σ)·x + c_out(σ)·F_θ(c_in(σ)·x, c_noise(σ)).

Boundary form of CM (Song et al. 2023, App. C): using σ − σ_min in c_skip and c_out
makes f(x, σ_min) = x hold by construction, which is what anchors consistency training.
"""
from __future__ import annotations

import torch
from torch import nn


def scalings(sigma, sigma_data: float = 0.5, sigma_min: float = 0.002):
    """(c_skip, c_out, c_in) of CM's boundary form, in sigma's dtype.

    At σ = σ_min (same dtype as the grid) σ − σ_min is exactly 0, so c_out = 0 and
    c_skip = σ_d²/σ_d² = 1 exactly: the boundary condition holds bit-exactly.
    """
    sigma = torch.as_tensor(sigma)
    if not sigma.is_floating_point():
        sigma = sigma.float()
    shifted = sigma - sigma_min
    c_skip = sigma_data**2 / (shifted**2 + sigma_data**2)
    c_out = shifted * sigma_data / torch.sqrt(sigma**2 + sigma_data**2)
    c_in = 1.0 / torch.sqrt(sigma**2 + sigma_data**2)
    return c_skip, c_out, c_in


def c_noise(sigma):
    """Network time input 250·ln(σ + 1e-44) (CM code writes 1000·0.25·log).

    The only definition in the harness, so training and sampling cannot disagree.
    """
    sigma = torch.as_tensor(sigma)
    if not sigma.is_floating_point():
        sigma = sigma.float()
    return 250.0 * torch.log(sigma + 1e-44)


def _out_dtype(x: torch.Tensor) -> torch.dtype:
    # Low-precision inputs are combined in fp32 so the skip path keeps x exactly.
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _expand(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


class Consistency(nn.Module):
    """Wraps a raw network F_θ(x, c_noise, class_labels) into the consistency function f_θ."""

    def __init__(self, net: nn.Module, sigma_data: float = 0.5, sigma_min: float = 0.002):
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)
        self.sigma_min = float(sigma_min)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, class_labels=None) -> torch.Tensor:
        dtype = _out_dtype(x)
        x = x.to(dtype)
        sigma = torch.as_tensor(sigma, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        # Keep sigma in the grid's dtype when it is fp32: casting it to fp64 first would
        # make σ − σ_min non-zero at the boundary.
        if sigma.dtype != dtype and not (sigma.dtype == torch.float32 and dtype == torch.float64):
            sigma = sigma.to(dtype)
        c_skip, c_out, c_in = (_expand(c.to(dtype), x) for c in scalings(sigma, self.sigma_data, self.sigma_min))
        F = self.net(c_in * x, c_noise(sigma), class_labels)
        # Autocast may hand back bf16; combining in fp32 keeps f(x, σ_min) == x exactly.
        F = F.to(dtype)
        return c_skip * x + c_out * F


class Denoiser(Consistency):
    """EDM denoiser D(x, σ) for the LDM-8† baseline (sLCT Table 1).

    EDM's preconditioning is the boundary form with σ_min = 0: c_skip = σ_d²/(σ²+σ_d²),
    c_out = σσ_d/sqrt(σ²+σ_d²) (Karras et al. 2022, Table 1), so it reuses Consistency.
    """

    def __init__(self, net: nn.Module, sigma_data: float = 0.5):
        super().__init__(net, sigma_data=sigma_data, sigma_min=0.0)
