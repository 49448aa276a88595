"""Normalisation layers chosen by name (sLCT Sec. 4.6 and Table 2d).

`GroupNorm` ports `GroupNorm` in EDM's training/networks.py; `NsLayerNorm` is sLCT's eq. 12; the
others are torch's layers.

`make_norm(name, channels, resolution)` serves both `ModelSpec.norm` (norm0, norm1 and the
attention norm of every block) and `ModelSpec.last_norm` (the output norm). The [C,H,W]
norms ('ln', 'rms', 'ns_layernorm') carry one affine value per element, so they must know
the resolution of the tensor they see: the block's input resolution for norm0, its output
resolution for norm1 and the attention norm, the image resolution for the output norm.

| key            | layer                                               | affine          |
|----------------|-----------------------------------------------------|-----------------|
| 'gn'           | GroupNorm, 32 groups but ≥ 4 channels per group     | γ, β per channel|
| 'in'           | InstanceNorm2d(affine=True)                         | γ, β per channel|
| 'ln'           | LayerNorm([C,H,W])                                  | γ, β per element|
| 'rms'          | RMSNorm([C,H,W]) (torch's default eps)              | γ per element   |
| 'ns_layernorm' | NsLN: LayerNorm([C,H,W]) with γ ≡ 1, not a parameter| β per element   |

The GroupNorm eps is the network's (1e-5 for ADM, 1e-6 for NCSN++, as in EDM); the other
layers keep torch's defaults, as the sLCT code builds them with default arguments.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.core.registry import Registry

# (channels, resolution, eps) -> the norm layer for a (B, channels, resolution, resolution) tensor.
NORMS = Registry("norm", binding="ModelSpec.norm/last_norm")


class GroupNorm(nn.GroupNorm):
    """EDM's GroupNorm: 32 groups, but no fewer than 4 channels per group (narrow layers)."""

    def __init__(self, num_channels: int, num_groups: int = 32, min_channels_per_group: int = 4, eps: float = 1e-5):
        groups = max(1, min(num_groups, num_channels // min_channels_per_group))
        super().__init__(groups, num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Cast the affine to the input dtype so bf16 activations outside autocast also work.
        return F.group_norm(x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps)


class NsLayerNorm(nn.Module):
    """Non-scaling LayerNorm (sLCT eq. 12): (x − μ(x)) / sqrt(σ²(x) + ε) + β.

    μ and σ² are taken per sample over all of C, H, W. The scale γ is fixed to 1 and is
    deliberately *absent* (not a frozen parameter): the paper's point is that a shared
    learned scale amplifies impulsive outliers, and leaving it out keeps it out of the
    optimiser, the EMA and the parameter count. β is learnable, one value per element.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5):
        super().__init__()
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, None, self.bias.to(x.dtype), self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, scale=1 (fixed)"


@NORMS.register("gn")
def _gn(channels: int, resolution: int, eps: float) -> nn.Module:
    return GroupNorm(channels, eps=eps)


@NORMS.register("in")
def _in(channels: int, resolution: int, eps: float) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


@NORMS.register("ln")
def _ln(channels: int, resolution: int, eps: float) -> nn.Module:
    return nn.LayerNorm([channels, resolution, resolution])


@NORMS.register("rms")
def _rms(channels: int, resolution: int, eps: float) -> nn.Module:
    return nn.RMSNorm([channels, resolution, resolution])


@NORMS.register("ns_layernorm")
def _ns_layernorm(channels: int, resolution: int, eps: float) -> nn.Module:
    return NsLayerNorm([channels, resolution, resolution])


def make_norm(name: str, channels: int, resolution: int, eps: float = 1e-5) -> nn.Module:
    """The norm layer `name` for a (B, channels, resolution, resolution) tensor."""
    return NORMS[name](channels, resolution, eps)
