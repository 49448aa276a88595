import math

import torch
from torch import nn

from repro.core import Consistency, Denoiser, c_noise, karras_sigmas, scalings


class HugeNet(nn.Module):
    """Random conv net with an enormous output scale, to stress the boundary condition."""

    def __init__(self, scale=1e30):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.scale = scale

    def forward(self, x, c_noise, class_labels=None):
        return self.conv(x) * self.scale + c_noise.reshape(-1, 1, 1, 1)


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, c_noise, class_labels=None):
        self.calls.append((x.clone(), c_noise.clone(), class_labels))
        return torch.sin(x) + 1.0


def test_scalings_at_sigma_min_are_exact():
    s = torch.tensor([0.002], dtype=torch.float32)
    c_skip, c_out, c_in = scalings(s)
    assert c_skip.item() == 1.0 and c_out.item() == 0.0
    assert math.isclose(c_in.item(), 1 / math.sqrt(0.002**2 + 0.25), rel_tol=1e-6)


def test_scalings_by_hand_at_sigma_one():
    c_skip, c_out, c_in = scalings(torch.tensor([1.0], dtype=torch.float64))
    assert math.isclose(c_skip.item(), 0.25 / (0.998**2 + 0.25), rel_tol=1e-12)
    assert math.isclose(c_out.item(), 0.998 * 0.5 / math.sqrt(1.25), rel_tol=1e-12)
    assert math.isclose(c_in.item(), 1 / math.sqrt(1.25), rel_tol=1e-12)


def test_c_noise():
    assert c_noise(torch.tensor([1.0])).item() == 0.0
    assert math.isclose(c_noise(torch.tensor([math.e], dtype=torch.float64)).item(), 250.0, rel_tol=1e-12)
    assert math.isclose(c_noise(torch.tensor([80.0])).item(), 250 * math.log(80.0), rel_tol=1e-6)


def test_boundary_condition_exact_with_huge_net():
    torch.manual_seed(0)
    f = Consistency(HugeNet())
    x = torch.randn(4, 3, 8, 8)
    sig = karras_sigmas(11)[0].expand(4)
    assert torch.equal(f(x, sig), x)


def test_boundary_condition_exact_under_bf16_autocast():
    torch.manual_seed(0)
    f = Consistency(HugeNet(scale=1e3))
    x = torch.randn(2, 3, 8, 8)
    sig = torch.full((2,), 0.002)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = f(x, sig)
        y_mid = f(x, torch.full((2,), 1.0))
    assert y.dtype == torch.float32 and y_mid.dtype == torch.float32
    assert torch.equal(y, x)


def test_forward_combines_scalings_per_sample():
    net = Recorder()
    f = Consistency(net)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    sig = torch.tensor([0.5, 10.0], dtype=torch.float64)
    labels = torch.tensor([1, 2])
    y = f(x, sig, labels)
    x_in, cn, lab = net.calls[0]
    for b, s in enumerate([0.5, 10.0]):
        c_in = 1 / math.sqrt(s**2 + 0.25)
        c_skip = 0.25 / ((s - 0.002) ** 2 + 0.25)
        c_out = (s - 0.002) * 0.5 / math.sqrt(s**2 + 0.25)
        assert torch.allclose(x_in[b], c_in * x[b])
        assert math.isclose(cn[b].item(), 250 * math.log(s), rel_tol=1e-6)
        want = c_skip * x[b] + c_out * (torch.sin(c_in * x[b]) + 1.0)
        assert torch.allclose(y[b], want, rtol=1e-6, atol=1e-6)
    assert torch.equal(lab, labels)


def test_denoiser_uses_edm_scalings():
    net = Recorder()
    d = Denoiser(net)
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    s = 2.0
    y = d(x, torch.tensor([s], dtype=torch.float64))
    c_in = 1 / math.sqrt(s**2 + 0.25)
    want = 0.25 / (s**2 + 0.25) * x + s * 0.5 / math.sqrt(s**2 + 0.25) * (torch.sin(c_in * x) + 1)
    assert torch.allclose(y, want, rtol=1e-6, atol=1e-6)
