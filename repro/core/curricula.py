"""Discretisation curriculum N(k) and the robust-loss scale c (iCT sec. 3.3-3.4; sLCT eq. 10-11)."""
from __future__ import annotations

import math

from repro.core.registry import Registry
from repro.io import ReproError

# N(k): (k, total, s0, s1) -> number of discretisation points at step k of `total`.
CURRICULA = Registry("curriculum", binding="CurriculumSpec.kind")
# The scale c of the robust distances: (n, dim, value, form, s0) -> c.
C_KINDS = Registry("c kind", binding="LossSpec.c_kind")
# Coefficients of the adaptive c(N): (n, s0, dim) -> c.
C_FORMS = Registry("adaptive c form", binding="LossSpec.c_form")


def _floor_log2(m: int) -> int:
    # Integer floor(log2(m)) — float log2 can misround at exact powers of two.
    if m < 1:
        raise ValueError(f"need s1 >= s0, got floor(s1/s0) = {m}")
    return m.bit_length() - 1


@CURRICULA.register("ict_exp")
def discretization_steps(k: int, total: int, s0: int = 10, s1: int = 1280) -> int:
    """N(k) = min(s0·2^⌊k/K'⌋, s1) + 1, K' = ⌊K/(log2⌊s1/s0⌋ + 1)⌋ (iCT eq. 5 / sLCT eq. 10)."""
    k, total, s0, s1 = int(k), int(total), int(s0), int(s1)
    levels = _floor_log2(s1 // s0)
    k_prime = max(total // (levels + 1), 1)  # guard tiny K (smoke runs)
    # Past stage levels+1 the min() is always s1, so capping avoids huge powers of two.
    stage = min(k // k_prime, levels + 1)
    return min(s0 * 2**stage, s1) + 1


@CURRICULA.register("fixed")
def fixed_steps(k: int, total: int, s0: int, s1: int) -> int:
    """N = s1 + 1 throughout (no curriculum)."""
    return int(s1) + 1


def ict_c(dim: int) -> float:
    """iCT's fixed pseudo-Huber scale c = 0.00054·sqrt(D) (iCT sec. 3.3)."""
    return 0.00054 * math.sqrt(dim)


@C_FORMS.register("paper")
def _c_paper(n: int, s0: int, dim: int) -> float:
    return math.exp(-1.18 * math.log(n - 1) - 0.72)


@C_FORMS.register("code")
def _c_code(n: int, s0: int, dim: int) -> float:
    if n > s0 + 1:
        return math.exp(-1.15 * math.log(n - 1) - 0.85)
    return ict_c(dim)


def adaptive_c(n: int, form: str = "code", s0: int = 10, dim: int = 4096) -> float:
    """sLCT's scale schedule c(N).

    'paper': exp(−1.18 ln(N−1) − 0.72) for every N (sLCT eq. 11).
    'code' : exp(−1.15 ln(N−1) − 0.85) once N > s0+1; at the first stage the LCT code keeps
             iCT's c0 = 0.00054·sqrt(D) (switch adaptive_c.coeffs, docs/FIDELITY.md).
    """
    return C_FORMS[form](int(n), s0, dim)


@C_KINDS.register("none")
def _c_none(n: int, dim: int, value, form: str, s0: int) -> float:
    return 0.0


@C_KINDS.register("fixed")
def _c_fixed(n: int, dim: int, value, form: str, s0: int) -> float:
    if value is None:
        raise ReproError("LossSpec.c_kind = 'fixed' needs LossSpec.c_value")
    return float(value)


@C_KINDS.register("ict")
def _c_ict(n: int, dim: int, value, form: str, s0: int) -> float:
    return ict_c(dim)


@C_KINDS.register("adaptive")
def _c_adaptive(n: int, dim: int, value, form: str, s0: int) -> float:
    return adaptive_c(n, form=form, s0=s0, dim=dim)
