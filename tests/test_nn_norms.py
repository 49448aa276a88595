"""Normalisation layers by name (sLCT Sec. 4.6, Table 2d): every norm trains in both networks; NsLN is eq. 12."""
import math

import pytest
import torch

from repro.nn import build_network
from repro.nn.norms import NORMS, GroupNorm, NsLayerNorm, make_norm
from helpers.tiny_nets import perturb_, tiny_spec


def tiny(arch, norm, **kw):
    return tiny_spec(arch, **{"in_channels": 3, "out_channels": 3, "norm": norm, "last_norm": norm, **kw})


@pytest.mark.parametrize("arch", ["adm", "ncsnpp"])
@pytest.mark.parametrize("norm", NORMS)
def test_forward_backward_every_norm(arch, norm):
    torch.manual_seed(0)
    net = perturb_(build_network(tiny(arch, norm)))
    x, c = torch.randn(2, 3, 8, 8), torch.randn(2) * 100
    y = net(x, c)
    assert y.shape == x.shape and y.dtype == torch.float32 and torch.isfinite(y).all()
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("norm", NORMS)
def test_block_norms_see_their_resolution(norm):
    # norm0 sees the block input, norm1 and the attention norm its output (per-element norms).
    net = build_network(tiny("adm", norm))
    down = net.enc["4x4_down"]
    assert (down.in_resolution, down.out_resolution) == (8, 4)
    if norm in ("ln", "rms", "ns_layernorm"):
        assert tuple(down.norm0.normalized_shape) == (32, 8, 8)
        assert tuple(down.norm1.normalized_shape) == (32, 4, 4)
        up = net.dec["8x8_up"]
        assert tuple(up.norm0.normalized_shape) == (64, 4, 4)
        assert tuple(up.norm1.normalized_shape) == (64, 8, 8)
        assert tuple(net.enc["4x4_block0"].norm2.normalized_shape) == (64, 4, 4)
        assert tuple(net.out_norm.normalized_shape) == (32, 8, 8)


def test_groupnorm_groups():
    assert GroupNorm(256).num_groups == 32
    assert GroupNorm(64).num_groups == 16     # at least 4 channels per group
    assert GroupNorm(16, eps=1e-6).eps == 1e-6


def test_affine_shapes():
    assert make_norm("in", 8, 4).weight.shape == (8,)
    assert make_norm("ln", 8, 4).weight.shape == (8, 4, 4)
    assert make_norm("rms", 8, 4).weight.shape == (8, 4, 4)
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("bn", 8, 4)


def test_nsln_has_no_trainable_scale():
    m = make_norm("ns_layernorm", 8, 4)
    assert isinstance(m, NsLayerNorm)
    names = dict(m.named_parameters())
    assert list(names) == ["bias"] and names["bias"].shape == (8, 4, 4)
    assert "weight" not in m.state_dict()
    net = build_network(tiny("adm", "ns_layernorm"))
    params = {id(p) for p in net.parameters()}
    for mod in net.modules():
        if isinstance(mod, NsLayerNorm):
            assert id(mod.bias) in params
            assert not any(n == "weight" for n, _ in mod.named_parameters())


def test_nsln_matches_manual_per_sample_statistics():
    torch.manual_seed(0)
    m = make_norm("ns_layernorm", 6, 5)
    with torch.no_grad():
        m.bias.normal_()
    x = torch.randn(3, 6, 5, 5) * 4 + 2
    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    want = (x - mu) / torch.sqrt(var + 1e-5) + m.bias
    # layer_norm reduces in another order than mean/var: μ is off by about sqrt(D) eps |x|max,
    # which shifts every output by that over σ, and σ's error scales outputs of size up to r =
    # |x|max / σ; D = 150 values per sample, r = 3.7 here (tolerance 5e-5, measured 2e-7).
    r = float((x.abs().amax(dim=(1, 2, 3), keepdim=True) / var.sqrt()).max())
    tol = 2 * math.sqrt(x[0].numel()) * torch.finfo(torch.float32).eps * r * (1 + r)
    torch.testing.assert_close(m(x), want, rtol=0, atol=tol)
    # channels_last input gives the same numbers.
    torch.testing.assert_close(m(x.to(memory_format=torch.channels_last)), want, rtol=0, atol=tol)


@pytest.mark.parametrize("norm", NORMS)
def test_samples_do_not_interact(norm):
    # Per-sample statistics: changing sample 1 leaves sample 0's output unchanged.
    torch.manual_seed(0)
    net = perturb_(build_network(tiny("adm", norm))).eval()
    x, c = torch.randn(2, 3, 8, 8), torch.randn(2) * 100
    x2 = x.clone()
    x2[1] = torch.randn(3, 8, 8) * 10
    with torch.no_grad():
        a, b = net(x, c), net(x2, c)
    # Same shapes, so the same kernels and summation orders: sample 0 comes out bit for bit the
    # same unless statistics mix samples, which moves it by O(1); the tolerance is only a margin.
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[1], b[1])
