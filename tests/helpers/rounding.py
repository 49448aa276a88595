"""Sizes of float rounding that the numeric tests set their tolerances from.

Two computations of one quantity that sum in different orders (another BLAS or LAPACK, thread
count, SIMD width, memory layout) differ by rounding alone, and how much depends on the machine.
A tolerance taken from these sizes holds on any CPU and library, yet stays orders of magnitude
below what a real bug changes.
"""
import math

import numpy as np
import torch


def weight_layers(net: torch.nn.Module) -> tuple:
    """(L, K): how many conv/linear layers the network has, and the largest fan-in among them."""
    fans = [m.weight[0].numel() for m in net.modules()
            if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim >= 2]
    return len(fans), max(fans)


def network_rounding(net: torch.nn.Module, dtype=torch.float32) -> float:
    """Relative difference, in units of the output's magnitude, between two evaluations of `net`
    whose sums run in different orders: L · sqrt(K) · eps.

    A K-term sum's rounding error behaves like a random walk, about sqrt(K) · eps times the size
    of its partial sums; each of the L layers adds one such error (normalisations keep the
    activations O(output)), and L bounds the depth of any path through the network."""
    n_layers, fan_in = weight_layers(net)
    return n_layers * math.sqrt(fan_in) * torch.finfo(dtype).eps


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fd_rounding(mu1, s1, mu2, s2) -> float:
    """Bound on the float64 rounding error of frechet_distance(mu1, s1, mu2, s2).

    Tr (S1 S2)^½ is Σ sqrt(μ_i) over the eigenvalues μ_i of M = S1^½ S2 S1^½. A symmetric
    eigensolver returns each μ_i within δ ≈ d · eps · ||M|| (backward stable; d is a generous
    constant), and forming S1^½ and M adds as much again, so δ = 2 d eps ||S1|| ||S2||. The square
    root turns δ into δ / (2 sqrt μ_i), but at most sqrt(δ): for singular covariances (fewer
    samples than dimensions) the error is sqrt(eps)-sized, not eps-sized. The traces and the mean
    term add d · eps times their magnitude."""
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    d, eps = len(s1), np.finfo(np.float64).eps
    a = _psd_sqrt(s1)
    mu = np.clip(np.linalg.eigvalsh(a @ s2 @ a), 0, None)
    delta = 2 * d * eps * np.linalg.norm(s1, 2) * np.linalg.norm(s2, 2)
    with np.errstate(divide="ignore"):
        per_root = np.minimum(np.sqrt(delta), delta / (2 * np.sqrt(mu)))
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(2 * per_root.sum() + d * eps * (np.trace(s1) + np.trace(s2) + 2 * np.sqrt(mu).sum() + diff @ diff))
