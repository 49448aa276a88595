"""Minibatch OT coupling between data and noise (sLCT sec. 4.4).

The pairing is the exact assignment for the squared Euclidean cost normalised by its max, in
float64 (LCT: OTPlanSampler(normalize_cost=True), POT emd). `ot_permutation` returns that
float64 path's permutation without forming the float64 cost whenever it can prove the answer:

1. C~, the cost from a float32 Gram product (float32 within blocks of BLOCK, float64 across), and
   E_ij >= |C~_ij - C_ij| + |C64_ij - C_ij|, a rigorous bound from the rounding of both
   computations (C exact; C64 the float64 path's matrix times its max, same argmin). It holds
   for any summation order, with or without FMA, as long as the GEMMs round in IEEE float32 /
   float64: the float32 one is numpy's (BLAS sgemm), never torch's, which may use TF32 or bf16.
2. pi = the solver's permutation on C~. Any other permutation sigma is pi followed by cycles of
   reassignments i: pi(i) -> sigma(i), and C(sigma) - C(pi) = sum over them of
   w_i,sigma(i) with w_ij = C_ij - C_i,pi(i). If every cycle has
   sum (C~_ij - C~_i,pi(i) - E_ij - E_i,pi(i)) > 0, every sigma costs strictly more than pi
   under C64 too: pi is the float64 path's unique optimum (for an exact solver on it). No
   cycle is non-positive iff potentials v with those weights + v_pi(i) - v_j > 0 exist
   (Bellman-Ford, `_certified`); the check is made on the potentials found.
3. If not, the entries that could be to blame (reduced cost under C~'s LP duals within a few E)
   are recomputed as float64 dot products, with a ~1e7x smaller bound, and step 2 is repeated.
4. If that fails too, the float64 path runs: exact ties (duplicate rows) and near-ties within
   the float64 rounding end here, so both paths break ties alike, by the solver on the float64
   matrix; that matrix is formed on the host, so the same inputs give it on any device.
"""
from __future__ import annotations

import numpy as np
import torch

from repro.core.defaults import OT_SOLVER
from repro.core.registry import Registry

COUPLINGS = Registry("coupling", binding="LossSpec.coupling")
# Exact assignment solvers for ot_coupling; the default is repro.core.defaults.OT_SOLVER.
OT_SOLVERS = Registry("OT solver", binding="ot_coupling.solver")

_U32, _U64 = 2.0 ** -24, 2.0 ** -53      # unit roundoff of float32 / float64
# Inner-dimension block of the float32 Gram product; each block's dot products are summed in
# float64, so the float32 error bound is gamma_BLOCK rather than gamma_D (64x smaller at D = 4096).
BLOCK = 64
# Head-room on every computed bound for the rounding of the bound's own float64 arithmetic.
_SAFE = 1.0 + 1e-6


def _gamma(n: int, u: float) -> float:
    # Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.8: a dot product of n terms,
    # in any order, with or without FMA, is within gamma_n * sum |a_k b_k| of the exact one.
    return n * u / (1.0 - n * u)


def _flat(t) -> np.ndarray:
    """A batch as a (B, D) host array, float32 or float64 (bf16/fp16 widen exactly to float32)."""
    if torch.is_tensor(t):
        t = t.detach().reshape(t.shape[0], -1).cpu()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.float()
        t = t.numpy()
    a = np.asarray(t).reshape(len(t), -1)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def _cost(x0, z) -> np.ndarray:
    """The float64 path: squared Euclidean cost between flattened x0 and *unit* noise z, normalised
    by its max (LCT OTPlanSampler(normalize_cost=True)). The Gram form avoids a B×B×D temporary."""
    a = torch.from_numpy(_flat(x0)).double()
    b = torch.from_numpy(_flat(z)).double()
    cost = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    cost = cost.clamp_(min=0.0).numpy()
    top = cost.max()
    return cost / top if top > 0 else cost


class _Fast:
    """The cost from the float32 Gram product and a bound E on its distance to the float64 path's."""

    def __init__(self, x0, z):
        a, b = _flat(x0), _flat(z)
        self.a, self.b, self.n, self.d = a, b, a.shape[0], a.shape[1]
        self.na = np.square(a, dtype=np.float64).sum(1)     # float64 norms (squares exact for float32)
        self.nb = np.square(b, dtype=np.float64).sum(1)
        self.ra, self.rb = np.sqrt(self.na), np.sqrt(self.nb)
        # Bounds max C (the reference solver's rounding is relative to it).
        self.top = (self.ra.max(initial=0.0) + self.rb.max(initial=0.0)) ** 2
        self.cost = (self.na[:, None] + self.nb[None, :]) - 2.0 * self._gram(a, b)
        # The Gram term's relative error per product: rounding float64 inputs to float32 (2u + u^2),
        # the float32 sums within a block (gamma_BLOCK), the float64 sum of the block partials;
        # sum_k |a_k b_k| <= |a||b| (Cauchy-Schwarz).
        blocks = -(-self.d // BLOCK)
        inp = 0.0 if a.dtype == b.dtype == np.float32 else 2 * _U32 + _U32 ** 2
        c32 = (1 + inp) * (1 + _gamma(min(BLOCK, self.d), _U32)) * (1 + _gamma(blocks, _U64)) - 1
        ab = self.ra[:, None] * self.rb[None, :]
        sq = self.na[:, None] + self.nb[None, :]
        # Underflow, where relative bounds do not hold: a float32 product or input below the
        # smallest normal is off by at most half the subnormal spacing, 2^-150 (float64: 2^-1075).
        tiny = 4 * self.d * (2.0 ** -150 * (1 + self.ra[:, None] + self.rb[None, :]) + 2.0 ** -1075)
        # ... plus the float64 norms (gamma_d) and the two float64 operations forming the cost.
        self.err = (2 * c32 * ab + tiny + (_gamma(self.d, _U64) + 3 * _U64) * (sq + 2 * (1 + c32) * ab)
                    + self._err64(sq + 2 * ab)) * _SAFE

    @staticmethod
    def _gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """sum_k a_ik b_jk: float32 products summed in float32 within blocks of BLOCK (one float32
        GEMM each, on strided views), the block results summed in float64."""
        a, b = a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)
        acc = np.zeros((a.shape[0], b.shape[0]))
        for s in range(0, a.shape[1], BLOCK):
            acc += a[:, s:s + BLOCK] @ b[:, s:s + BLOCK].T
        return acc

    def _err64(self, outer_sq: np.ndarray) -> np.ndarray:
        # The float64 path's distance to C (scaled back by its max, which leaves its argmin
        # unchanged), with outer_sq = (|a|+|b|)^2 >= C + 2|a.b|: norms and dot products of length d
        # (gamma_d), three float64 operations, the division by the max, float64 underflow; plus room
        # for the rounding inside the reference solver (2n ulps of the max).
        return ((_gamma(self.d, _U64) + 4 * _U64) * outer_sq + 4 * (self.d + 2) * 2.0 ** -1074
                + 2 * self.n * _U64 * self.top)

    def refine(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Replace entries (rows, cols) by float64 dot products, with their (much smaller) bound."""
        dot = np.einsum("ij,ij->i", self.a[rows], self.b[cols], dtype=np.float64)
        self.cost[rows, cols] = (self.na[rows] + self.nb[cols]) - 2.0 * dot
        sq = (self.ra[rows] + self.rb[cols]) ** 2
        # Same terms as the float64 path (the norms are the ones above): the same bound, twice.
        self.err[rows, cols] = 2 * self._err64(sq) * _SAFE


def _potentials(w: np.ndarray, perm: np.ndarray):
    """v with w_ij + v_perm(i) - v_j >= 0 for all i, j (shortest-path distances, Bellman-Ford, in the
    graph with an edge perm(i) -> j of weight w_ij), or None if a negative cycle keeps it moving."""
    v = np.zeros(len(perm))
    for _ in range(len(perm) + 1):
        new = np.minimum(v, (v[perm][:, None] + w).min(0))
        if np.array_equal(new, v):
            return v
        v = new
    return None


def _reduced(w: np.ndarray, perm: np.ndarray, margin: float = 0.0):
    """(reduced costs w_ij + v_perm(i) - v_j, v) for potentials v found on w less `margin`, with
    w[i, perm(i)] = inf (no reassignment); (None, None) when a negative cycle leaves none."""
    v = _potentials(w - margin, perm)
    if v is None:
        return None, None
    return (w + v[perm][:, None]) - v[None, :], v


def _certified(f: _Fast, perm: np.ndarray) -> bool:
    """Whether perm is the float64 path's unique optimum: no cycle of reassignments
    perm(i) -> j saves anything under the worst rounding (module docstring)."""
    n = len(perm)
    r = np.arange(n)
    w = (f.cost - f.cost[r, perm][:, None]) - (f.err + f.err[r, perm][:, None])
    w[r, perm] = np.inf                      # a row that keeps its partner is no reassignment
    top = np.abs(f.cost).max() + 2 * f.err.max()
    # The potentials are found for w less a small margin, so that the reduced costs below come out
    # strictly positive, and are then checked against the float64 rounding of w and of the check.
    red, v = _reduced(w, perm, margin=64 * n * _U64 * top)
    if red is None:
        return False
    return bool((red > 16 * _U64 * (3 * top + 2 * np.abs(v).max())).all())


def _doubtful(f: _Fast, perm: np.ndarray):
    """(rows, cols) of the entries whose rounding could change the optimum: reduced cost (under
    perm's LP duals of the fast cost) within a few error bounds of zero; None if there are no duals."""
    n = len(perm)
    r = np.arange(n)
    w = f.cost - f.cost[r, perm][:, None]
    w[r, perm] = np.inf
    red, _ = _reduced(w, perm)
    if red is None:
        return None
    return np.nonzero(red <= 4 * (f.err + f.err[r, perm][:, None]))


def _plan(x0, z, solver: str = OT_SOLVER):
    """(perm, path): perm[k] is x0[k]'s partner in z; path 'f32' (certified on the float32 cost),
    'refined' (certified after recomputing the doubtful entries in float64) or 'f64' (the
    float64 path ran: the certificate could not exclude a tie)."""
    solve = OT_SOLVERS[solver]
    if len(x0) == 0:
        return np.zeros(0, dtype=np.int64), "f32"
    f = _Fast(x0, z)
    perm = solve(f.cost)
    if _certified(f, perm):
        return perm, "f32"
    doubt = _doubtful(f, perm)
    if doubt is not None:
        rows = np.unique(doubt[0])
        f.refine(np.concatenate([doubt[0], rows]), np.concatenate([doubt[1], perm[rows]]))
        if _certified(f, perm):
            return perm, "refined"
    return solve(_cost(x0, z)), "f64"


def ot_permutation(x0, z, solver: str = OT_SOLVER) -> np.ndarray:
    """perm (int64, host) with z[perm][k] x0[k]'s OT partner: the float64 path's permutation
    (see the module docstring), from tensors on any device or host arrays. Host-only work, so it
    can run on a host thread (repro.train.loop solves the next step's pairs while a step runs)."""
    if len(x0) != len(z):
        raise ValueError(f"ot_coupling: batch sizes differ ({len(x0)} vs {len(z)})")
    return _plan(x0, z, solver)[0]


@OT_SOLVERS.register("lsa")
def _lsa(cost: np.ndarray) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=np.int64)
    perm[rows] = cols
    return perm


@OT_SOLVERS.register("emd")
def _emd(cost: np.ndarray) -> np.ndarray:
    import ot

    n = cost.shape[0]
    w = np.full(n, 1.0 / n)
    plan = ot.emd(w, w, cost)
    perm = plan.argmax(axis=1)
    # The network simplex returns a vertex of the Birkhoff polytope, i.e. a permutation
    # matrix; if a degenerate plan ever splits mass, fall back to the exact assignment.
    if len(np.unique(perm)) != n or not np.allclose(plan[np.arange(n), perm], 1.0 / n):
        return _lsa(cost)
    return perm.astype(np.int64)


@COUPLINGS.register("ot")
def ot_coupling(x0: torch.Tensor, z: torch.Tensor, solver: str = OT_SOLVER) -> torch.Tensor:
    """Return z permuted so that returned[k] is x0[k]'s OT partner.

    solver: 'lsa' (scipy linear_sum_assignment, default: 1.5-4x faster at batch 128-256, see
    benchmarks/ot_coupling.py) or 'emd' (POT ot.emd, as the LCT code). Both are exact; they
    return the same permutation whenever the optimum is unique (tests/test_perf_ot_solvers.py).

    The LCT code reorders both x0 and z by the sampled pairs; keeping x0 in place gives the
    same set of pairs and leaves class labels aligned.
    """
    perm = ot_permutation(x0, z, solver)
    return z[torch.from_numpy(perm).to(z.device)]


@COUPLINGS.register("none")
def no_coupling(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return z


# Couplings that are a permutation of z found on the host, by LossSpec.coupling: name ->
# (x0, z) -> perm with coupling(x0, z) == z[perm]. The training loop runs them on a host thread.
PERMUTATIONS = {"ot": ot_permutation}
