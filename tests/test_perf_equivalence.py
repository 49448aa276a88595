"""The speed switches keep the math: each optimised path against the plain fp32 one, small model.

Tolerances (stated here, checked below). Where only the rounding changes, they come from its
size, which depends on the CPU and its kernels, not from what one machine measured:
- channels_last vs contiguous (fp32): loss and gradient (rel. L2) differ by rounding alone, as
  the conv summation order changes, by about L·sqrt(K)·eps = 1.9e-4 relative (L = 47 layers,
  fan-in K <= 1152; helpers/rounding.py). Measured <= 1.5e-6 on four kernel configurations.
- foreach vs single-tensor RAdam (torch's coupled weight decay): after 3 steps the parameters
  differ by at most one rounding of each per step (1 ulp measured): 2·steps·eps of their scale.
- EMA `_foreach_lerp_` vs LCT's per-parameter `mul_(d).add_(p, alpha=1-d)`: each update rounds
  a few times on each side (about 2 eps of the shadow's scale); twice that per step.
- bf16 autocast (CPU) vs fp32: loss rel. diff <= 2e-2, gradient cosine similarity > 0.99
  (bf16's own rounding, 2^-9 per layer input, dominates and is the same on any CPU).
- `apply_runtime` leaves a CPU run untouched (same module, no channels_last, no compile).
"""
import copy

import pytest
import torch

from repro.core.objective import ConsistencyLoss
from repro.nn.ema import EMA
from repro.specs import ModelSpec, RuntimeSpec
from repro.train import loop
from helpers.rounding import network_rounding

TINY = ModelSpec(arch="adm", img_resolution=16, in_channels=4, out_channels=4, model_channels=32,
                 channel_mult=(1, 2), channel_mult_emb=2, num_blocks=1, attn_resolutions=(8,),
                 channels_per_head=32, dropout=0.0, norm="ns_layernorm", last_norm="ns_layernorm")


def _function(seed=0):
    from repro.core.precond import Consistency
    from repro.nn import build_network

    torch.manual_seed(seed)
    net = build_network(TINY)
    # EDM zero-inits the output layer; randomise every parameter so gradients reach all layers.
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return Consistency(net, sigma_data=0.5, sigma_min=0.002)


def _loss_and_grads(f, autocast=False, channels_last=False):
    # The sLCT objective: Cauchy, adaptive-style c, diffusion term, OT coupling.
    obj = ConsistencyLoss(distance="cauchy", diff_r=0.25, coupling="ot")
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(6, 4, 16, 16, generator=g) * 0.5
    draws = obj.draw(6, 41, generator=g, like=x0)
    # pairs at higher sigma so the student/teacher gap (and the gradient) is not tiny
    draws["i"] = torch.tensor([5, 12, 20, 27, 33, 38])
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
        draws["z"] = draws["z"].contiguous(memory_format=torch.channels_last)
    f.zero_grad(set_to_none=True)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else torch.autocast("cpu", enabled=False)
    with ctx:
        loss, _ = obj(f, x0, 41, 0.05, g, draws=draws)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in f.parameters()])
    return float(loss.detach()), grads


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def fp32():
    f = _function()
    return (f,) + _loss_and_grads(f)


def test_channels_last_matches_contiguous(fp32):
    f, l0, g0 = fp32
    f_cl = copy.deepcopy(f).to(memory_format=torch.channels_last)
    l1, g1 = _loss_and_grads(f_cl, channels_last=True)
    tol = network_rounding(f)
    assert abs(l1 - l0) <= tol * abs(l0), (l0, l1, tol)
    assert _rel(g1, g0) <= tol, (_rel(g1, g0), tol)


def test_bf16_autocast_close_to_fp32(fp32):
    f, l0, g0 = fp32
    l1, g1 = _loss_and_grads(f, autocast=True)
    assert abs(l1 - l0) <= 2e-2 * abs(l0), (l0, l1)
    cos = float(torch.nn.functional.cosine_similarity(g1.double(), g0.double(), dim=0))
    assert cos > 0.99, cos


def test_foreach_radam_matches_single_tensor():
    torch.manual_seed(0)
    shapes = [(64, 32, 3, 3), (64,), (128, 64), (7,)]
    p_a = [torch.randn(s, requires_grad=True) for s in shapes]
    p_b = [p.detach().clone().requires_grad_(True) for p in p_a]
    kw = dict(lr=1e-4, weight_decay=1e-4, betas=(0.9, 0.999), eps=1e-8)
    opt_a = torch.optim.RAdam(p_a, foreach=True, **kw)
    opt_b = torch.optim.RAdam(p_b, foreach=False, **kw)
    steps = 3
    for step in range(steps):
        grads = [torch.randn(s) for s in shapes]
        for p, gr in zip(p_a, grads):
            p.grad = gr.clone()
        for p, gr in zip(p_b, grads):
            p.grad = gr.clone()
        opt_a.step()
        opt_b.step()
    eps = torch.finfo(torch.float32).eps
    with torch.no_grad():
        for a, b in zip(p_a, p_b):
            assert float((a - b).abs().max()) <= 2 * steps * eps * float(b.abs().max())


def test_foreach_ema_matches_per_parameter_loop():
    f = _function()
    ema = EMA(f, (0.9, 0.99993))
    ref = {r: [p.detach().clone() for p in f.parameters()] for r in (0.9, 0.99993)}
    steps = 3
    for _ in range(steps):
        with torch.no_grad():
            for p in f.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        ema.update(f)
        for r, shadow in ref.items():
            for s, p in zip(shadow, f.parameters()):
                s.mul_(r).add_(p.detach(), alpha=1 - r)
    # Per update and side: one rounding of the result, one in the weighted term, and r and 1 - r
    # as float32 scalars summing to 1 only within eps/2: about 2 eps of the shadow's scale for
    # both sides together. Twice that per step (1.4e-6 relative; measured 3.3e-7).
    tol = 4 * steps * torch.finfo(torch.float32).eps
    for r in ref:
        for a, b in zip(ema.shadow[r], ref[r]):
            assert float((a - b).abs().max()) <= tol * max(float(b.abs().max()), 1e-3)


def test_apply_runtime_leaves_cpu_runs_untouched():
    f = _function()
    before = {k: v.clone() for k, v in f.state_dict().items()}
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    fwd = loop.apply_runtime(f, RuntimeSpec(channels_last=True, tf32=True, compile=True, bf16=True),
                             torch.device("cpu"))
    assert fwd is f
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == tf32
    for k, v in f.state_dict().items():
        assert torch.equal(v, before[k]) and v.is_contiguous(), k


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_apply_runtime_cuda_switches():
    f = _function().cuda()
    fwd = loop.apply_runtime(f, RuntimeSpec(channels_last=True, tf32=True, compile=False), torch.device("cuda"))
    assert fwd is f
    w = next(p for p in f.parameters() if p.ndim == 4)
    assert w.is_contiguous(memory_format=torch.channels_last)
    assert torch.backends.cuda.matmul.allow_tf32
