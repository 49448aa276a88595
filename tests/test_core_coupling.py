import itertools

import numpy as np
import torch

from repro.core import COUPLINGS, no_coupling, ot_coupling


def _cost(x0, z):
    a = x0.reshape(len(x0), -1).double().numpy()
    b = z.reshape(len(z), -1).double().numpy()
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _paired_cost(x0, zc):
    return float(((x0.double() - zc.double()) ** 2).sum())


def test_emd_equals_brute_force_batch6():
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        x0 = torch.randn(6, 2, 3, 3, generator=g) * 0.5 + 1.0
        z = torch.randn(6, 2, 3, 3, generator=g)
        cost = _cost(x0, z)
        perms = np.array(list(itertools.permutations(range(6))))
        best = cost[np.arange(6), perms].sum(1).min()
        for solver in ("emd", "lsa"):
            zc = ot_coupling(x0, z, solver=solver)
            assert abs(_paired_cost(x0, zc) - best) < 1e-9 * best


def test_emd_equals_lsa_batch64_and_is_permutation():
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(64, 4, 4, 4, generator=g)
    z = torch.randn(64, 4, 4, 4, generator=g)
    a = ot_coupling(x0, z, "emd")
    b = ot_coupling(x0, z, "lsa")
    assert torch.equal(a, b)
    # Every row of z appears exactly once.
    rows = {tuple(r.tolist()) for r in a.reshape(64, -1)}
    assert rows == {tuple(r.tolist()) for r in z.reshape(64, -1)} and len(rows) == 64
    assert _paired_cost(x0, a) <= _paired_cost(x0, z)


def test_no_coupling_and_registry():
    z = torch.randn(3, 2)
    assert no_coupling(torch.randn(3, 2), z) is z
    assert COUPLINGS["none"] is no_coupling and COUPLINGS["ot"] is ot_coupling
