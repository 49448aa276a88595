import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from repro.core import Consistency, ConsistencyLoss, DiffusionLoss, build_loss, karras_sigmas
from repro.io import ReproError
from repro.specs import LossSpec


class ZeroNet(nn.Module):
    """F ≡ 0 (plus a parameter so autograd has something to track): f(x, σ) = c_skip(σ)·x."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, c_noise, class_labels=None):
        return self.w * x


def _draws(n, batch, shape, seed):
    """Re-derive the loss's draws: indices from scipy-computed lognormal probs, then unit noise."""
    sig = karras_sigmas(n).double().numpy()
    cdf = stats.norm.cdf(np.log(sig), loc=-1.1, scale=2.0)
    probs = torch.from_numpy(np.diff(cdf) / np.diff(cdf).sum())
    g = torch.Generator().manual_seed(seed)
    i = torch.multinomial(probs, batch, replacement=True, generator=g).numpy()
    z = torch.randn((batch,) + shape, generator=g).double().numpy()
    return sig, i, z


def _c_skip(s):
    return 0.25 / ((s - 0.002) ** 2 + 0.25)


def _np_expected(x0, n, c, seed, diff_r=0.0, reduction="sum"):
    sig32 = karras_sigmas(n).numpy()  # fp32 grid, as the loss sees it
    _, i, z = _draws(n, x0.shape[0], x0.shape[1:], seed)
    s, s1 = sig32[i].astype(np.float64), sig32[i + 1].astype(np.float64)
    e = lambda v: v.reshape(-1, *([1] * (x0.ndim - 1)))
    y = e(_c_skip(s1)) * (x0 + e(s1) * z)
    y_ref = e(_c_skip(s)) * (x0 + e(s) * z)
    sq = ((y - y_ref) ** 2).reshape(len(x0), -1).sum(1)
    if reduction == "mean":
        sq = sq / np.prod(x0.shape[1:])
    ct = np.mean(1.0 / (s1 - s) * (np.sqrt(sq + c**2) - c))
    sq_diff = ((y - x0) ** 2).reshape(len(x0), -1)
    msq = sq_diff.sum(1) if reduction == "sum" else sq_diff.mean(1)
    sel = (n - 2 - i) >= int(n * (1 - diff_r))
    term = (1 / s1**2 + 4.0) * msq
    diff = term[sel].mean() if sel.any() else 0.0
    return ct, diff, sel.sum()


def test_ct_loss_by_hand_with_zero_net():
    torch.manual_seed(0)
    x0 = torch.randn(16, 2, 4, 4)
    n, c, seed = 21, 0.05, 11
    loss_fn = ConsistencyLoss(distance="pseudo_huber", reduction="sum", weighting="ict")
    f = Consistency(ZeroNet())
    loss, stats_ = loss_fn(f, x0, n, c, torch.Generator().manual_seed(seed))
    ct, _, _ = _np_expected(x0.double().numpy(), n, c, seed)
    assert math.isclose(loss.item(), ct, rel_tol=1e-4)
    assert stats_["diff"].item() == 0.0 and stats_["n_diff"].item() == 0
    assert all(not v.requires_grad for v in stats_.values())


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_diff_term_by_hand_all_selected(reduction):
    torch.manual_seed(1)
    x0 = torch.randn(12, 2, 4, 4)
    n, c, seed = 11, 0.1, 5
    loss_fn = ConsistencyLoss(distance="pseudo_huber", reduction=reduction, diff_r=1.0, diff_weight=5.0,
                              diff_weighting="edm")
    loss, st = loss_fn(Consistency(ZeroNet()), x0, n, c, torch.Generator().manual_seed(seed))
    ct, diff, count = _np_expected(x0.double().numpy(), n, c, seed, diff_r=1.0, reduction=reduction)
    assert count == 12 and st["n_diff"].item() == 12
    assert math.isclose(st["diff"].item(), diff, rel_tol=1e-4)
    assert math.isclose(loss.item(), ct + 5.0 * diff, rel_tol=1e-4)


@pytest.mark.parametrize("n,r,code,paper", [
    # code: j = n-2-i >= int(n(1-r));  paper: i+2 <= int(n r)   (i = ascending pair index)
    (11, 0.25, {0, 1}, {0}),          # int(8.25)=8 -> i<=1 ; int(2.75)=2 -> i<=0
    (21, 0.25, {0, 1, 2, 3, 4}, {0, 1, 2, 3}),  # int(15.75)=15 -> i<=4 ; int(5.25)=5 -> i<=3
    (11, 0.6, set(range(6)), set(range(5))),    # int(4.4)=4 -> i<=5 ; int(6.6)=6 -> i<=4
    (11, 1.0, set(range(10)), set(range(10))),
    (11, 0.01, set(), set()),                   # int(10.89)=10 > 9 ; int(0.11)=0
])
def test_diff_selection_rules(n, r, code, paper):
    i = torch.arange(n - 1)
    for rule, want in (("code", code), ("paper", paper)):
        mask = ConsistencyLoss(diff_r=r, diff_index_rule=rule).diff_mask(i, n)
        assert set(torch.nonzero(mask).flatten().tolist()) == want, rule


def test_empty_selection_gives_zero_not_nan():
    x0 = torch.randn(8, 2, 4, 4)
    loss_fn = ConsistencyLoss(distance="cauchy", diff_r=0.01)
    loss, st = loss_fn(Consistency(ZeroNet()), x0, 11, 0.03456, torch.Generator().manual_seed(0))
    assert st["n_diff"].item() == 0 and st["diff"].item() == 0.0
    assert torch.isfinite(loss) and loss.item() == st["ct"].item()


class DropNet(nn.Module):
    """Output is the dropout mask itself, so student/teacher masks can be compared."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.w = nn.Parameter(torch.ones(()))
        self.outs = []

    def forward(self, x, c_noise, class_labels=None):
        out = self.w * self.drop(torch.ones_like(x))
        self.outs.append(out)
        return out


@pytest.mark.parametrize("sync", [True, False])
def test_dropout_rng_sync(sync):
    net = DropNet().train()
    x0 = torch.randn(4, 2, 8, 8)
    torch.manual_seed(123)
    ConsistencyLoss(dropout_rng_sync=sync)(Consistency(net), x0, 11, 0.1, torch.Generator().manual_seed(0))
    student, teacher = net.outs
    assert torch.equal(student.detach(), teacher) == sync
    if sync:
        # The global RNG ends where a single (student-only) pass leaves it.
        after = torch.get_rng_state()
        torch.manual_seed(123)
        net.drop(torch.ones_like(x0))
        assert torch.equal(after, torch.get_rng_state())


def test_gradient_flows_only_through_student():
    net = DropNet().eval()
    x0 = torch.randn(4, 2, 4, 4)
    loss, _ = ConsistencyLoss(distance="l2", reduction="mean")(Consistency(net), x0, 11, None,
                                                              torch.Generator().manual_seed(2))
    student, teacher = net.outs
    assert student.requires_grad and not teacher.requires_grad
    loss.backward()
    # Independent re-derivation: F ≡ w, teacher treated as a constant.
    sig, i, z = _draws(11, 4, (2, 4, 4), 2)
    sig32 = karras_sigmas(11).numpy().astype(np.float64)
    s, s1 = sig32[i], sig32[i + 1]
    e = lambda v: v.reshape(-1, 1, 1, 1)
    x_ = x0.double().numpy()
    c_out = lambda t: (t - 0.002) * 0.5 / np.sqrt(t**2 + 0.25)
    y = e(_c_skip(s1)) * (x_ + e(s1) * z) + e(c_out(s1))
    y_ref = e(_c_skip(s)) * (x_ + e(s) * z) + e(c_out(s))
    dy_dw = e(c_out(s1))
    grad = np.mean(1 / (s1 - s) * (2 * (y - y_ref) * dy_dw).reshape(4, -1).mean(1))
    assert math.isclose(net.w.grad.item(), grad, rel_tol=1e-4)


def test_ot_coupling_runs_inside_loss():
    x0 = torch.randn(8, 2, 4, 4)
    loss, _ = ConsistencyLoss(coupling="ot")(Consistency(ZeroNet()), x0, 11, 0.03456,
                                             torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)


def test_from_spec_and_build_loss():
    spec = LossSpec()
    lf = ConsistencyLoss.from_spec(spec)
    assert lf.reduction == "mean" and lf.diff_index_rule == "code"
    assert isinstance(build_loss(LossSpec(objective="diffusion")), DiffusionLoss)
    with pytest.raises(ReproError):
        ConsistencyLoss.from_spec(LossSpec(objective="diffusion"))
    with pytest.raises(ReproError):
        ConsistencyLoss(distance="nope")


def test_diffusion_loss_by_hand_with_zero_denoiser():
    x0 = torch.randn(6, 2, 4, 4)
    c = 3.45
    loss, _ = DiffusionLoss(num_scales=1000)(lambda x, s, lab=None: torch.zeros_like(x), x0, None, c,
                                              torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    j = torch.randint(0, 1000, (6,), generator=g).numpy()
    sig = karras_sigmas(1000).numpy().astype(np.float64)[j]
    mse = (x0.double().numpy() ** 2).reshape(6, -1).mean(1)
    want = np.mean((1 / sig**2 + 4.0) * (np.log(0.5 * mse + c**2) - 2 * np.log(c)))
    assert math.isclose(loss.item(), want, rel_tol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_dropout_rng_sync_cuda_and_bf16():
    net = DropNet().cuda().train()
    x0 = torch.randn(4, 2, 8, 8, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, _ = ConsistencyLoss()(Consistency(net), x0, 11, 0.1, torch.Generator("cuda").manual_seed(0))
    student, teacher = net.outs
    assert torch.equal(student.detach(), teacher) and loss.dtype == torch.float32


def test_sliced_draws_equal_whole_batch_per_sample():
    # A loop that draws the global batch once and feeds slices must get the same per-sample loss.
    x0 = torch.randn(8, 2, 4, 4)
    lf = ConsistencyLoss(distance="pseudo_huber", reduction="sum")
    f = Consistency(ZeroNet())
    whole, _ = lf(f, x0, 21, 0.05, torch.Generator().manual_seed(4))
    draws = lf.draw(8, 21, torch.Generator().manual_seed(4), like=x0)
    halves = [lf(f, x0[s], 21, 0.05, None, draws={k: v[s] for k, v in draws.items()})[0]
              for s in (slice(0, 4), slice(4, 8))]
    # Same per-sample terms, summed in another grouping: the float32 sums over the 32 values of a
    # sample and the 8 samples may round differently, at most (32 + 8) eps relative (positive terms)
    tol = (x0[0].numel() + len(x0)) * torch.finfo(torch.float32).eps
    assert math.isclose(whole.item(), (halves[0].item() + halves[1].item()) / 2, rel_tol=tol)


def test_pseudo_huber_zero_c_is_norm():
    from repro.core import pseudo_huber
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert pseudo_huber(x, torch.zeros_like(x), 0.0, "sum").tolist() == [5.0, 0.0]
