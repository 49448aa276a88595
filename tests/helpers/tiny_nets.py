"""Tiny network configurations for the nn tests (the paper sizes are tested on the meta device)."""
import torch

from repro.specs import ModelSpec


def tiny_spec(arch, **kw) -> ModelSpec:
    base = dict(arch=arch, img_resolution=8, in_channels=4, out_channels=4, model_channels=32,
                channel_mult=(1, 2), num_blocks=1, attn_resolutions=(4,), channel_mult_emb=2,
                embedding="fourier" if arch == "ncsnpp" else "positional", fourier_scale=0.02,
                dropout=0.0)
    return ModelSpec(**{**base, **kw})


def perturb_(net, std=0.05, seed=0):
    """Give zero-initialised layers weights, so every path carries signal and gradient."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return net
