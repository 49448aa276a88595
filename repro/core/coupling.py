"""Minibatch OT coupling between data and noise (sLCT sec. 4.4)."""
from __future__ import annotations

import numpy as np
import torch

from repro.core.defaults import OT_SOLVER
from repro.core.registry import Registry

COUPLINGS = Registry("coupling", binding="LossSpec.coupling")
# Exact assignment solvers for ot_coupling; the default is repro.core.defaults.OT_SOLVER.
OT_SOLVERS = Registry("OT solver", binding="ot_coupling.solver")


def _cost(x0: torch.Tensor, z: torch.Tensor) -> np.ndarray:
    # Squared Euclidean cost between flattened x0 and *unit* noise z, normalised by its max
    # (LCT OTPlanSampler(normalize_cost=True)). The Gram form avoids a B×B×D temporary; it is
    # computed where the batch lives, in float64 so near-ties resolve the same on any device,
    # and only the B×B matrix crosses to the host for the solver.
    a = x0.detach().reshape(x0.shape[0], -1).double()
    b = z.detach().reshape(z.shape[0], -1).to(a.device).double()
    cost = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    cost = cost.clamp_(min=0.0).cpu().numpy()
    top = cost.max()
    return cost / top if top > 0 else cost


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
    if x0.shape[0] != z.shape[0]:
        raise ValueError(f"ot_coupling: batch sizes differ ({x0.shape[0]} vs {z.shape[0]})")
    perm = OT_SOLVERS[solver](_cost(x0, z))
    return z[torch.from_numpy(perm).to(z.device)]


@COUPLINGS.register("none")
def no_coupling(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return z

