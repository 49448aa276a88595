"""ot_coupling's default solver (scipy LSA, chosen for speed) gives exactly ot.emd's permutation."""
import inspect

import numpy as np
import torch

from repro.core.coupling import _cost, _emd, _lsa, ot_coupling


def test_default_solver_is_lsa():
    assert inspect.signature(ot_coupling).parameters["solver"].default == "lsa"


def test_lsa_and_emd_give_the_same_permutation_on_random_square_inputs():
    g = torch.Generator().manual_seed(11)
    n = 0
    for batch in (2, 5, 16, 33, 64, 128):
        for _ in range(3):
            x0 = torch.randn(batch, 4, 8, 8, generator=g) * 0.5
            z = torch.randn(batch, 4, 8, 8, generator=g)
            cost = _cost(x0, z)
            p_emd, p_lsa = _emd(cost), _lsa(cost)
            assert np.array_equal(p_emd, p_lsa), batch
            assert sorted(p_lsa.tolist()) == list(range(batch))          # a permutation
            assert torch.equal(ot_coupling(x0, z), ot_coupling(x0, z, solver="emd"))
            n += 1
    assert n == 18


def test_default_coupling_is_a_permutation_of_z_with_lower_cost():
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(32, 4, 32, 32, generator=g) * 0.5
    z = torch.randn(32, 4, 32, 32, generator=g)
    zc = ot_coupling(x0, z)
    assert sorted(map(tuple, zc.reshape(32, -1)[:, :4].tolist())) == sorted(map(tuple, z.reshape(32, -1)[:, :4].tolist()))
    assert float(((x0 - zc) ** 2).sum()) <= float(((x0 - z) ** 2).sum())
