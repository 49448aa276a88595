"""Noise-level embeddings of c_noise (CM: c_noise = 250·ln σ, computed by the core): ports of
`PositionalEmbedding` and `FourierEmbedding` in EDM's training/networks.py.

Both take a (B,) tensor and return (B, num_channels) in float32 ordered [cos | sin], as
EDM's layers do (so EDM-trained weights would line up).

- PositionalEmbedding (ADM, DDPM++): the transformer sinusoid with frequencies
  (1/max_positions)^(i/(half − endpoint)). This equals diffusers'
  `get_timestep_embedding(x, C, flip_sin_to_cos=True, downscale_freq_shift=endpoint)`
  (tests/test_nn_networks.py checks it), but it is written out here: importing
  diffusers.models takes 7-15 s per process on the 2-core dev machine (measured), which every
  `count_params` / CLI call would pay for four lines of arithmetic.
- FourierEmbedding (NCSN++): random Fourier features cos/sin(2π f x) with f ~ N(0, scale²),
  scale a constructor argument (iCT: 0.02 on 250·ln σ, i.e. 5 on ln σ). diffusers'
  `GaussianFourierProjection` keeps f as a frozen nn.Parameter, which would count as a
  parameter and reach the optimiser; here f is a (saved) buffer, as in EDM / score-SDE,
  so it is fixed but travels with the checkpoint.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from repro.core.registry import Registry

# (num_channels, endpoint, scale) -> embedding module; each network says which arguments it passes.
EMBEDDINGS = Registry("embedding", binding="ModelSpec.embedding")


class PositionalEmbedding(nn.Module):
    def __init__(self, num_channels: int, max_positions: int = 10000, endpoint: bool = False):
        super().__init__()
        assert num_channels % 2 == 0
        self.num_channels, self.max_positions, self.endpoint = num_channels, max_positions, endpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.num_channels // 2
        i = torch.arange(half, dtype=torch.float32, device=x.device)
        freqs = torch.exp(-math.log(self.max_positions) * i / (half - (1 if self.endpoint else 0)))
        # Broadcast product in fp32 (autocast would run ger/outer in bf16: phases up to ~1e3).
        x = x.float()[:, None] * freqs[None, :]
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(nn.Module):
    def __init__(self, num_channels: int, scale: float = 16.0):
        super().__init__()
        assert num_channels % 2 == 0
        self.register_buffer("freqs", torch.randn(num_channels // 2) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Broadcast product, not ger/outer: autocast must not drop the phases to bf16.
        x = x.float()[:, None] * (2 * math.pi * self.freqs.float())[None, :]
        return torch.cat([x.cos(), x.sin()], dim=1)


@EMBEDDINGS.register("positional")
def _positional(num_channels: int, endpoint: bool, scale: float) -> nn.Module:
    return PositionalEmbedding(num_channels, endpoint=endpoint)


@EMBEDDINGS.register("fourier")
def _fourier(num_channels: int, endpoint: bool, scale: float) -> nn.Module:
    return FourierEmbedding(num_channels, scale=scale)
