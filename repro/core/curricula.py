"""Discretisation curriculum N(k) and the robust-loss scale c (iCT sec. 3.3-3.4; sLCT eq. 10-11)."""
from __future__ import annotations

import math


def _floor_log2(m: int) -> int:
    # Integer floor(log2(m)) — float log2 can misround at exact powers of two.
    if m < 1:
        raise ValueError(f"need s1 >= s0, got floor(s1/s0) = {m}")
    return m.bit_length() - 1


def discretization_steps(k: int, total: int, s0: int = 10, s1: int = 1280) -> int:
    """N(k) = min(s0·2^⌊k/K'⌋, s1) + 1, K' = ⌊K/(log2⌊s1/s0⌋ + 1)⌋ (iCT eq. 5 / sLCT eq. 10)."""
    k, total, s0, s1 = int(k), int(total), int(s0), int(s1)
    levels = _floor_log2(s1 // s0)
    k_prime = max(total // (levels + 1), 1)  # guard tiny K (smoke runs)
    # Past stage levels+1 the min() is always s1, so capping avoids huge powers of two.
    stage = min(k // k_prime, levels + 1)
    return min(s0 * 2**stage, s1) + 1


def ict_c(dim: int) -> float:
    """iCT's fixed pseudo-Huber scale c = 0.00054·sqrt(D) (iCT sec. 3.3)."""
    return 0.00054 * math.sqrt(dim)


def adaptive_c(n: int, form: str = "code", s0: int = 10, dim: int = 4096) -> float:
    """sLCT's scale schedule c(N).

    'paper': exp(−1.18 ln(N−1) − 0.72) for every N (sLCT eq. 11).
    'code' : exp(−1.15 ln(N−1) − 0.85) once N > s0+1; at the first stage the LCT code keeps
             iCT's c0 = 0.00054·sqrt(D) (switch adaptive_c.coeffs, docs/FIDELITY.md).
    """
    n = int(n)
    if form == "paper":
        return math.exp(-1.18 * math.log(n - 1) - 0.72)
    if form == "code":
        if n > s0 + 1:
            return math.exp(-1.15 * math.log(n - 1) - 0.85)
        return ict_c(dim)
    raise ValueError(f"LossSpec.c_form={form!r}: unknown; use 'paper' or 'code'")
