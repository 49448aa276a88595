"""Networks F_θ for iCT and sLCT: `build_network(spec)`, `PRESETS`, `count_params`, `EMA`.

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

import dataclasses

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


# The paper sizes. The iCT ones are not confirmed from the paper text (docs/FIDELITY.md).
PRESETS: dict[str, ModelSpec] = {
    # sLCT: EDM DhariwalUNet on 32×32×4 SD-VAE latents, NsLN block and output norms (sLCT 4.6).
    "slct_unet": ModelSpec(arch="adm", img_resolution=32, in_channels=4, out_channels=4, label_dim=0,
                           model_channels=128, channel_mult=(1, 2, 3, 4), channel_mult_emb=4, num_blocks=4,
                           attn_resolutions=(16, 8), channels_per_head=64, dropout=0.0,
                           norm="ns_layernorm", last_norm="ns_layernorm", embedding="positional"),
    # iCT CIFAR-10: NCSN++ (EDM SongUNet ncsnpp config), Fourier scale 0.02, dropout 0.3.
    "ict_ncsnpp_cifar10": ModelSpec(arch="ncsnpp", img_resolution=32, in_channels=3, out_channels=3,
                                    model_channels=128, channel_mult=(2, 2, 2), channel_mult_emb=4,
                                    num_blocks=4, attn_resolutions=(16,), dropout=0.3, norm="gn",
                                    last_norm="gn", embedding="fourier", fourier_scale=0.02),
    # iCT ImageNet-64: CM's ADM, class-conditional.
    "ict_adm_imagenet64": ModelSpec(arch="adm", img_resolution=64, in_channels=3, out_channels=3,
                                    label_dim=1000, model_channels=192, channel_mult=(1, 2, 3, 4),
                                    channel_mult_emb=4, num_blocks=3, attn_resolutions=(32, 16, 8),
                                    channels_per_head=64, dropout=0.2, norm="gn", last_norm="gn",
                                    embedding="positional"),
}
# The deep variants double the blocks per resolution (UNCONFIRMED, docs/FIDELITY.md).
PRESETS["ict_ncsnpp_cifar10_deep"] = dataclasses.replace(PRESETS["ict_ncsnpp_cifar10"], num_blocks=8)
PRESETS["ict_adm_imagenet64_deep"] = dataclasses.replace(PRESETS["ict_adm_imagenet64"], num_blocks=6)

from repro.nn import adm, ncsnpp  # noqa: E402,F401  (register the architectures)
from repro.nn.ema import EMA  # noqa: E402  (re-export)
from repro.nn.embeddings import EMBEDDINGS  # noqa: E402

__all__ = ["ARCHS", "EMA", "PRESETS", "build_network", "count_params"]
