"""Both networks on tiny configs: shapes, dtypes (fp32, bf16 autocast), channels_last,
checkpoints (weights_only), labels, embeddings, init, and the consistency boundary condition."""
import math

import numpy as np
import pytest
import torch

from repro.io import atomic_torch_save, safe_torch_load
from repro.nn import build_network
from repro.nn.embeddings import FourierEmbedding, PositionalEmbedding
from helpers.tiny_nets import perturb_, tiny_spec
from helpers.rounding import network_rounding

ARCHS = ["adm", "ncsnpp"]


def tiny(arch, **kw):
    return tiny_spec(arch, **{"dropout": 0.2, **kw})


def inputs(b=3, c=4, r=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, r, r, generator=g), 250 * torch.log(torch.rand(b, generator=g) * 80 + 0.002)


@pytest.mark.parametrize("arch", ARCHS)
def test_shape_dtype_fp32_and_channels_last(arch):
    net = perturb_(build_network(tiny(arch))).eval()
    x, c = inputs()
    y = net(x, c)
    assert y.shape == x.shape and y.dtype == torch.float32
    y_cl = net(x.to(memory_format=torch.channels_last), c)
    # Other conv kernels, so other summation orders: equal up to rounding, which scales with the
    # output's magnitude, not each element's (measured 3e-6, bound 3e-4; a layout bug moves O(1))
    torch.testing.assert_close(y_cl, y, rtol=0, atol=network_rounding(net) * float(y.abs().max()))


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_autocast_channels_last(arch):
    net = perturb_(build_network(tiny(arch))).to(memory_format=torch.channels_last)
    x, c = inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x.to(memory_format=torch.channels_last), c)
        y.float().square().mean().backward()
    assert y.shape == x.shape and y.dtype in (torch.bfloat16, torch.float32)  # documented: may be bf16
    assert torch.isfinite(y.float()).all()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in net.parameters())
    net.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y_bf = net(x, c).float()
    y_fp = net(x, c).detach()
    # bf16 rounds every layer's inputs and weights (relative 2^-9); over the L = 47 layers that is
    # a random walk of about sqrt(L) * 2^-9 = 0.013 of the output's scale (measured 0.017). The
    # rounding to bf16 is the same on any CPU (only fp32 accumulation order differs), so 0.05
    # holds everywhere and still catches a layer that autocast breaks.
    assert (y_bf - y_fp).abs().max() <= 0.05 * y_fp.abs().max() + 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_class_conditional(arch):
    net = perturb_(build_network(tiny(arch, label_dim=5))).eval()
    x, c = inputs()
    labels = torch.tensor([0, 3, 4])
    y_int = net(x, c, labels)
    y_hot = net(x, c, torch.nn.functional.one_hot(labels, 5).float())
    torch.testing.assert_close(y_int, y_hot)
    assert not torch.allclose(y_int, net(x, c, torch.tensor([1, 3, 4])))
    with pytest.raises(ValueError, match="class_labels"):
        net(x, c)


@pytest.mark.parametrize("arch", ARCHS)
def test_label_embedding_by_hand(arch):
    # EDM training/networks.py: SongUNet adds map_label(onehot * sqrt(label_dim)) to the swapped
    # [sin | cos] Fourier features; DhariwalUNet adds map_label(onehot) (no bias) after the noise MLP.
    dim = 5
    net = perturb_(build_network(tiny(arch, label_dim=dim))).eval()
    x, c = inputs()
    labels = torch.tensor([0, 3, 4])
    w = net.map_label.weight.detach()
    seen = []
    with torch.no_grad():
        if arch == "ncsnpp":
            phase = c[:, None] * (2 * math.pi * net.map_noise.freqs)[None, :]
            want = torch.cat([phase.sin(), phase.cos()], 1) + math.sqrt(dim) * w[:, labels].T + net.map_label.bias
            hook = net.map_layer0.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
        else:
            half = net.map_noise.num_channels // 2
            phase = c[:, None] * torch.exp(-math.log(10000) * torch.arange(half) / half)[None, :]
            noise = torch.cat([phase.cos(), phase.sin()], 1)
            mlp = net.map_layer1(torch.nn.functional.silu(net.map_layer0(noise)))
            want = torch.nn.functional.silu(mlp + w[:, labels].T)
            hook = net.enc["8x8_block0"].affine.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
        net(x, c, labels)
    hook.remove()
    torch.testing.assert_close(seen[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_roundtrip_weights_only(arch, tmp_path):
    torch.manual_seed(0)
    net = perturb_(build_network(tiny(arch, label_dim=3))).eval()
    atomic_torch_save(tmp_path / "net.pt", net.state_dict())
    torch.manual_seed(123)  # a different init (and different Fourier frequencies)
    other = build_network(tiny(arch, label_dim=3)).eval()
    other.load_state_dict(safe_torch_load(tmp_path / "net.pt"))
    x, c = inputs()
    labels = torch.tensor([0, 1, 2])
    assert torch.equal(other(x, c, labels), net(x, c, labels))
    # Also loadable directly with torch.load(weights_only=True).
    assert torch.load(tmp_path / "net.pt", weights_only=True).keys() == net.state_dict().keys()


@pytest.mark.parametrize("arch", ARCHS)
def test_dropout_only_in_training(arch):
    net = perturb_(build_network(tiny(arch, dropout=0.5)))
    x, c = inputs()
    net.eval()
    assert torch.equal(net(x, c), net(x, c))
    net.train()
    assert not torch.equal(net(x, c), net(x, c))


def test_edm_init():
    # ADM: zero-initialised conv1 / proj / out_conv ⇒ F_θ ≡ 0 at init; NCSN++: × 1e-5.
    torch.manual_seed(0)
    adm = build_network(tiny("adm"))
    x, c = inputs()
    assert torch.equal(adm(x, c), torch.zeros_like(x))
    blk = adm.enc["4x4_block0"]
    assert blk.conv1.weight.abs().max() == 0 and blk.proj.weight.abs().max() == 0
    bound = math.sqrt(1 / 3) * math.sqrt(3 / (32 * 9))   # kaiming-uniform × sqrt(1/3), fan_in 32·3·3
    w = adm.enc["4x4_down"].conv0.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    ncsn = build_network(tiny("ncsnpp"))
    assert 0 < ncsn(x, c).abs().max() < 1e-3
    assert ncsn.enc["8x8_block0"].conv0.bias.abs().max() == 0  # EDM's SongUNet biases start at 0


def test_unet_structure():
    adm = build_network(tiny("adm", num_blocks=2))
    assert [k for k in adm.dec] == ["4x4_in0", "4x4_in1", "4x4_block0", "4x4_block1", "4x4_block2",
                                    "8x8_up", "8x8_block0", "8x8_block1", "8x8_block2"]
    assert adm.dec["4x4_in0"].num_heads == 1 and adm.dec["4x4_block0"].num_heads == 1  # attention at 4
    assert adm.dec["8x8_block0"].num_heads == 0
    assert adm.enc["4x4_down"].skip.weight is None          # pure box-filter resample skip
    ncsn = build_network(tiny("ncsnpp", num_blocks=2))
    assert "4x4_aux_residual" in ncsn.enc
    assert ncsn.dec["4x4_block0"].num_heads == 0 and ncsn.dec["4x4_block2"].num_heads == 1
    assert ncsn.enc["4x4_down"].skip.weight.shape[-1] == 1  # resample_proj: 1×1 skip conv


def _edm_positional(x, n, endpoint, max_positions=10000):
    freqs = np.arange(n // 2) / (n // 2 - (1 if endpoint else 0))
    freqs = (1 / max_positions) ** freqs
    a = np.outer(x, freqs)
    return np.concatenate([np.cos(a), np.sin(a)], axis=1)


@pytest.mark.parametrize("endpoint", [False, True])
def test_positional_embedding_is_edms(endpoint):
    x = np.array([-1553.7, -3.2, 0.0, 1095.4])
    got = PositionalEmbedding(16, endpoint=endpoint)(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), _edm_positional(x.astype(np.float32), 16, endpoint), atol=2e-3)


@pytest.mark.slow
def test_positional_embedding_equals_diffusers():
    from diffusers.models.embeddings import get_timestep_embedding

    x = torch.tensor([-1553.7, -3.2, 0.0, 1095.4])
    for endpoint in (False, True):
        want = get_timestep_embedding(x, 16, flip_sin_to_cos=True, downscale_freq_shift=int(endpoint))
        torch.testing.assert_close(PositionalEmbedding(16, endpoint=endpoint)(x), want)


def test_fourier_embedding_fixed_buffer_and_fp32_under_autocast():
    torch.manual_seed(0)
    emb = FourierEmbedding(64, scale=0.02)
    assert list(emb.parameters()) == [] and "freqs" in emb.state_dict()
    assert 0.01 < emb.freqs.std() < 0.03
    x = torch.tensor([-1553.7, 1095.4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = emb(x)
    a = x[:, None] * (2 * math.pi * emb.freqs)[None]
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, torch.cat([a.cos(), a.sin()], 1))


def test_bad_specs_raise():
    with pytest.raises(ValueError, match="arch"):
        build_network(tiny("dit"))
    with pytest.raises(ValueError, match="embedding"):
        build_network(tiny("adm", embedding="learned"))


@pytest.mark.parametrize("arch", ARCHS)
def test_consistency_boundary_condition(arch):
    precond = pytest.importorskip("repro.core.precond")
    torch.manual_seed(0)
    f = precond.Consistency(perturb_(build_network(tiny(arch))), sigma_data=0.5, sigma_min=0.002)
    x = torch.randn(3, 4, 8, 8)
    sigma_min = torch.full((3,), 0.002)
    assert torch.equal(f(x, sigma_min), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = f(x.to(memory_format=torch.channels_last), sigma_min)
    assert out.dtype == torch.float32 and torch.equal(out, x)
    # Away from the boundary the network matters.
    assert not torch.allclose(f(x, torch.full((3,), 10.0)), x)
