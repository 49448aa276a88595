"""The residual block shared by both UNets: a port of `UNetBlock` in EDM's training/networks.py,
with the norms made pluggable and attention through torch's scaled_dot_product_attention
(EDM's AttentionOp computes the same softmax(qᵀk/sqrt(d))·v).

    h = conv0(silu(norm0(x)))                 # resamples here when up/down
    scale, shift = affine(emb)                # adaptive_scale (ADM "scale-shift norm")
    h = silu(norm1(h) · (1 + scale) + shift)  #   or silu(norm1(h + affine(emb))) (NCSN++)
    h = conv1(dropout(h))                     # zero-initialised: each block starts as identity-ish
    x = (h + skip(x)) · skip_scale
    x = (proj(attention(norm2(x))) + x) · skip_scale      # if the block has attention

The norms come from `norms.make_norm` and need the resolutions they see (per-element norms),
so the block takes `resolution` (its input) and derives its output resolution from up/down.
diffusers' ResnetBlock2D hard-wires GroupNorm and its own init, hence this module.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.nn.layers import Conv2d, Linear
from repro.nn.norms import make_norm


class UNetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, emb_channels: int, resolution: int,
                 up: bool = False, down: bool = False, attention: bool = False, num_heads=None,
                 channels_per_head: int = 64, dropout: float = 0.0, skip_scale: float = 1.0,
                 eps: float = 1e-5, norm: str = "gn", resample_filter=(1, 1), resample_proj: bool = False,
                 adaptive_scale: bool = True, init=None, init_zero=None, init_attn=None):
        super().__init__()
        init, init_zero = dict(init or {}), dict(init_zero or {})
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_resolution = resolution
        self.out_resolution = resolution * 2 if up else resolution // 2 if down else resolution
        # EDM: heads = out_channels // channels_per_head. We keep at least one head so that
        # narrow test/demo networks (< 64 channels) still exercise attention; every paper
        # size has ≥ 128 channels, where this changes nothing.
        self.num_heads = 0 if not attention else (num_heads if num_heads is not None
                                                  else max(1, out_channels // channels_per_head))
        self.dropout = dropout
        self.skip_scale = skip_scale
        self.adaptive_scale = adaptive_scale

        self.norm0 = make_norm(norm, in_channels, self.in_resolution, eps)
        self.conv0 = Conv2d(in_channels, out_channels, 3, up=up, down=down, resample_filter=resample_filter, **init)
        self.affine = Linear(emb_channels, out_channels * (2 if adaptive_scale else 1), **init)
        self.norm1 = make_norm(norm, out_channels, self.out_resolution, eps)
        self.conv1 = Conv2d(out_channels, out_channels, 3, **init_zero)

        self.skip = None
        if out_channels != in_channels or up or down:
            # Kernel 0 = resample only, when the channel count is kept and no projection is asked.
            kernel = 1 if resample_proj or out_channels != in_channels else 0
            self.skip = Conv2d(in_channels, out_channels, kernel, up=up, down=down,
                               resample_filter=resample_filter, **init)

        if self.num_heads:
            self.norm2 = make_norm(norm, out_channels, self.out_resolution, eps)
            self.qkv = Conv2d(out_channels, out_channels * 3, 1, **(init_attn if init_attn is not None else init))
            self.proj = Conv2d(out_channels, out_channels, 1, **init_zero)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))

        params = self.affine(emb).unsqueeze(2).unsqueeze(3)
        if self.adaptive_scale:
            scale, shift = params.chunk(chunks=2, dim=1)
            x = F.silu(self.norm1(x) * (scale + 1) + shift)
        else:
            x = F.silu(self.norm1(x + params))

        x = self.conv1(F.dropout(x, p=self.dropout, training=self.training))
        x = (x + (self.skip(orig) if self.skip is not None else orig)) * self.skip_scale

        if self.num_heads:
            b, c, h, w = x.shape
            # Channel layout (head, channel, q/k/v) as in EDM, so its checkpoints would map 1:1.
            q, k, v = self.qkv(self.norm2(x)).reshape(b * self.num_heads, c // self.num_heads, 3, h * w).unbind(2)
            # SDPA wants (N, L, E); softmax(qᵀk / sqrt(d)) v over the h·w positions. EDM casts
            # q, k to fp32 for the softmax; SDPA kernels accumulate the softmax in fp32 themselves.
            a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
            a = a.transpose(1, 2).reshape(b, c, h, w)
            x = (self.proj(a) + x) * self.skip_scale
        return x
