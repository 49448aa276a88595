"""EMA at several rates: lerp update, float32 shadows, state dicts, copy_to."""
import pytest
import torch

from repro.io import atomic_torch_save, safe_torch_load
from repro.nn import EMA


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GroupNorm(2, 4))


def test_update_is_lerp_per_rate():
    m = net()
    ema = EMA(m, (0.9, 0.5))
    start = {n: p.detach().clone() for n, p in m.named_parameters()}
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    ema.update(m)
    sd = ema.state_dict()
    assert set(sd) == {"0.9", "0.5"}
    for n, p in m.named_parameters():
        torch.testing.assert_close(sd["0.9"][n], 0.9 * start[n] + 0.1 * p.detach())
        torch.testing.assert_close(sd["0.5"][n], 0.5 * start[n] + 0.5 * p.detach())
        assert sd["0.9"][n].dtype == torch.float32


def test_bf16_model_keeps_fp32_shadow():
    m = net().to(torch.bfloat16)
    ema = EMA(m, (0.99,))
    ema.update(m)
    assert all(t.dtype == torch.float32 for t in ema.state_dict()["0.99"].values())


def test_state_dict_roundtrip_and_copy_to(tmp_path):
    m = net()
    ema = EMA(m, (0.999, 0.9))
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    ema.update(m)
    atomic_torch_save(tmp_path / "ema.pt", ema.state_dict())
    other = EMA(m, (0.9, 0.999))
    other.load_state_dict(safe_torch_load(tmp_path / "ema.pt"))
    for k in ("0.9", "0.999"):
        for n, t in ema.state_dict()[k].items():
            assert torch.equal(other.state_dict()[k][n], t)
    other.copy_to(m, 0.9)
    for n, p in m.named_parameters():
        assert torch.equal(p.detach(), ema.state_dict()["0.9"][n])
    with pytest.raises(ValueError, match="rates"):
        EMA(m, (0.5,)).load_state_dict(ema.state_dict())
    with pytest.raises(KeyError):
        ema.copy_to(m, 0.5)


def test_ema_is_not_in_the_graph():
    m = net()
    ema = EMA(m, (0.9,))
    m(torch.randn(2, 3)).sum().backward()
    ema.update(m)
    assert all(not t.requires_grad for t in ema.state_dict()["0.9"].values())
