"""ot_coupling forms the cost in float32 and certifies that its permutation is the float64 path's
(repro/core/coupling.py docstring); these tests compare with the float64 path on many batches,
with exact ties, near-ties and structured data, and check the error bound the certificate uses."""
import numpy as np
import pytest
import torch

from repro.core import coupling
from repro.core.coupling import _Fast, _lsa, _plan, ot_coupling, ot_permutation


def _float64_path(x0, z, solver="lsa"):
    """The float64 path as it was before the certificate: Gram form in float64, clamp, / max."""
    a = x0.reshape(len(x0), -1).double()
    b = z.reshape(len(z), -1).double()
    cost = ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T).clamp_(min=0.0).numpy()
    return coupling.OT_SOLVERS[solver](cost / cost.max())


def _batches(seed, n, batch, shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield torch.randn((batch,) + shape, generator=g) * scale, torch.randn((batch,) + shape, generator=g)


@pytest.mark.parametrize("batch, shape, n", [(128, (4, 32, 32), 6), (64, (1, 8, 8), 30), (33, (3, 5, 7), 20),
                                             (16, (2, 3, 3), 30)])
def test_random_batches_match_the_float64_path_without_running_it(batch, shape, n):
    paths = []
    for x0, z in _batches(batch, n, batch, shape, 0.5):
        perm, path = _plan(x0, z)
        assert np.array_equal(perm, _float64_path(x0, z)), path
        paths.append(path)
    # With no tie in the data, the certificate always decides (the float64 cost is never formed).
    assert "f64" not in paths, paths


def test_structured_data_matches():
    g = torch.Generator().manual_seed(2)
    for _ in range(6):
        x = torch.randn(64, 4, 16, 16, generator=g)
        x0 = torch.nn.functional.avg_pool2d(x, 5, 1, 2) * 3 + torch.randn(64, 1, 1, 1, generator=g)
        x0[:8] = x0[:8].round()                   # a few quantised rows, as images in [-1, 1] are
        z = torch.randn(64, 4, 16, 16, generator=g)
        assert np.array_equal(ot_permutation(x0, z), _float64_path(x0, z))


def test_exact_ties_take_the_float64_path():
    for x0, z in _batches(4, 6, 32, (2, 8, 8)):
        for dup in ("x0", "z"):
            a, b = x0.clone(), z.clone()
            (a if dup == "x0" else b)[1] = (a if dup == "x0" else b)[0]
            perm, path = _plan(a, b)
            assert path == "f64"
            assert np.array_equal(perm, _float64_path(a, b))


def test_near_ties_never_change_the_permutation():
    # A row moved by ~1e-7 from another: the two ways to pair them differ by ~1e-7 while the
    # float32 Gram product is off by ~1e-3 here, so an uncertified float32 solve guesses.
    guessed_wrong, paths = 0, []
    for x0, z in _batches(9, 12, 64, (4, 16, 16)):
        x0[1] = x0[0]
        x0[1, 0, 0, 0] += 1e-7 * (1 + torch.rand(()).item())
        a, b = x0.reshape(64, -1).numpy(), z.reshape(64, -1).numpy()
        plain = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)   # float32
        ref = _float64_path(x0, z)
        guessed_wrong += not np.array_equal(_lsa(plain), ref)
        perm, path = _plan(x0, z)
        assert np.array_equal(perm, ref)
        paths.append(path)
    assert guessed_wrong > 0                      # the cases are hard enough to need the check
    assert "f32" not in paths                     # and the float32 certificate declines them


def test_float64_inputs_and_emd_solver():
    for x0, z in _batches(5, 6, 48, (4, 10, 10)):
        x0 = x0.double() * (1 + 1e-12)             # not representable in float32
        for solver in ("lsa", "emd"):
            assert np.array_equal(ot_permutation(x0, z, solver), _float64_path(x0, z, solver))
        assert torch.equal(ot_coupling(x0, z), z[torch.from_numpy(_float64_path(x0, z))])


def test_error_bound_holds():
    # The certificate's bound covers the float32 cost's distance to the float64 path's (scaled
    # back by its max); large offsets and D not a multiple of the block make it work hardest.
    for scale, shape in ((1.0, (4, 32, 32)), (100.0, (3, 7, 11)), (1e-3, (1, 8, 8)), (1e-21, (2, 4, 4)),
                         (1e-40, (2, 4, 4))):                   # float32 subnormals
        for x0, z in _batches(6, 4, 40, shape, scale):
            x0 = x0 + 3 * scale
            f = _Fast(x0, z)
            a, b = x0.reshape(40, -1).double(), z.reshape(40, -1).double()
            c64 = ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T).numpy()
            gap = np.abs(f.cost - c64)
            assert (gap <= f.err).all()
            assert gap.max() > 0                  # the float32 cost does differ
