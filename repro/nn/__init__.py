"""Networks F_θ for iCT and sLCT: `build_network(spec)`, `count_params`, `EMA`.

- 'adm'    → `ADMUNet` (adm.py): EDM's DhariwalUNet port of ADM (sLCT latents, iCT ImageNet-64).
- 'ncsnpp' → `NCSNpp` (ncsnpp.py): EDM's SongUNet in its NCSN++ config (iCT CIFAR-10).

`forward(x, c_noise, class_labels=None)` is the raw F_θ; the core's `Consistency` wraps it.
It runs in fp32 and under autocast (CPU/CUDA bf16) and accepts channels_last input. With fp32
input and no autocast the output is fp32; under autocast it may be bf16 (the last op is a
conv), and the core casts it back to fp32 before the skip combination.

diffusers: no diffusers module is used at run time. `get_timestep_embedding` equals EDM's
positional embedding (a test checks it) but importing diffusers.models costs 7-15 s per
process here, so embeddings.py writes the four lines out. Its ResnetBlock2D / Attention / Up-/Downsample2D / GaussianFourierProjection do not match the
EDM facts these papers rely on (per-element [C,H,W] norms, EDM init with scaled biases and
zero layers, FIR resampling inside the block, weight-free resample skips, a fixed Fourier
buffer), so those modules are written here; each file says why.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.core.registry import Registry
from repro.specs import ModelSpec

# spec -> network; each architecture module registers one builder (adm.py, ncsnpp.py).
ARCHS = Registry("architecture", binding="ModelSpec.arch")


def unet_kwargs(spec: ModelSpec) -> dict:
    """The constructor arguments both UNets take from a ModelSpec."""
    return dict(img_resolution=spec.img_resolution, in_channels=spec.in_channels,
                out_channels=spec.out_channels, label_dim=spec.label_dim,
                model_channels=spec.model_channels, channel_mult=tuple(spec.channel_mult),
                channel_mult_emb=spec.channel_mult_emb, num_blocks=spec.num_blocks,
                attn_resolutions=tuple(spec.attn_resolutions), dropout=spec.dropout,
                norm=spec.norm, last_norm=spec.last_norm, embedding=spec.embedding,
                fourier_scale=spec.fourier_scale)


def build_network(spec: ModelSpec) -> nn.Module:
    """The network `spec` describes, on the current default device, in fp32."""
    build = ARCHS[spec.arch]
    EMBEDDINGS[spec.embedding]  # a bad name fails before any layer is built
    if spec.img_resolution % (1 << (len(spec.channel_mult) - 1)):
        raise ValueError(f"ModelSpec.img_resolution={spec.img_resolution} does not halve "
                         f"{len(spec.channel_mult) - 1} times")
    return build(spec)


def count_params(spec: ModelSpec) -> int:
    """Trainable parameters of `spec`, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        net = build_network(spec)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


from repro.nn import adm, ncsnpp  # noqa: E402,F401  (register the architectures)
from repro.nn.ema import EMA  # noqa: E402  (re-export)
from repro.nn.embeddings import EMBEDDINGS  # noqa: E402

__all__ = ["ARCHS", "EMA", "EMBEDDINGS", "build_network", "count_params"]
