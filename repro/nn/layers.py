"""Linear and convolution layers with EDM's initialisation and FIR resampling: ports of
`weight_init`, `Linear` and `Conv2d` in EDM's training/networks.py.

Why not torch.nn.Conv2d / diffusers' Upsample2D/Downsample2D: the networks here need
(a) EDM's init, where weights *and biases* are drawn from the same fan-in/fan-out law and
scaled by a per-layer factor (sqrt(1/3) for ADM, 1e-5 or 0 for the "zero" layers), and
(b) up/down-sampling folded into the layer with a fixed FIR filter ([1,1] = box, [1,3,3,1] =
the NCSN++ binomial filter), including "kernel 0" layers that only resample. diffusers'
resamplers pair a fixed filter with their own conv and init, so they do not match.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def init_weight_(t: torch.Tensor, mode: str, fan_in: int, fan_out: int, scale: float) -> torch.Tensor:
    """Fill `t` in place with EDM's `weight_init(shape, mode, fan_in, fan_out) * scale`."""
    with torch.no_grad():
        if mode == "xavier_uniform":
            t.uniform_(-1.0, 1.0).mul_(math.sqrt(6 / (fan_in + fan_out)))
        elif mode == "xavier_normal":
            t.normal_().mul_(math.sqrt(2 / (fan_in + fan_out)))
        elif mode == "kaiming_uniform":
            t.uniform_(-1.0, 1.0).mul_(math.sqrt(3 / fan_in))
        elif mode == "kaiming_normal":
            t.normal_().mul_(math.sqrt(1 / fan_in))
        else:
            raise ValueError(f"unknown init mode {mode!r}")
        t.mul_(scale)
    return t


class Linear(nn.Module):
    """y = x Wᵀ + b with EDM init (bias drawn like the weight, scaled by `init_bias`)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init_mode: str = "kaiming_normal", init_weight: float = 1.0, init_bias: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(init_weight_(torch.empty(out_features, in_features), init_mode,
                                                in_features, out_features, init_weight))
        self.bias = (nn.Parameter(init_weight_(torch.empty(out_features), init_mode, in_features,
                                               out_features, init_bias)) if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class Conv2d(nn.Module):
    """k×k convolution, optionally preceded (up) or followed (down) by FIR resampling by 2.

    kernel=0 gives a weight-free layer that only resamples (NCSN++ skips whose channel count
    does not change). `fused_resample` convolves at full resolution first and then
    downsamples (EDM's fused order, used by the NCSN++ "residual" input pyramid); it differs
    from resample-then-convolve only at the borders.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True,
                 up: bool = False, down: bool = False, resample_filter=(1, 1), fused_resample: bool = False,
                 init_mode: str = "kaiming_normal", init_weight: float = 1.0, init_bias: float = 0.0):
        assert not (up and down), "a layer resamples one way"
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.up, self.down, self.fused_resample = up, down, fused_resample
        fan_in, fan_out = in_channels * kernel * kernel, out_channels * kernel * kernel
        self.weight = (nn.Parameter(init_weight_(torch.empty(out_channels, in_channels, kernel, kernel),
                                                 init_mode, fan_in, fan_out, init_weight)) if kernel else None)
        self.bias = (nn.Parameter(init_weight_(torch.empty(out_channels), init_mode, fan_in, fan_out, init_bias))
                     if kernel and bias else None)
        # The 2-D filter is the outer product of the 1-D taps, normalised to sum 1. It is a
        # constant of the architecture, so it is not saved in state dicts.
        f = torch.as_tensor(resample_filter, dtype=torch.float32)
        f = f.ger(f).unsqueeze(0).unsqueeze(1) / f.sum().square()
        self.register_buffer("resample_filter", f if (up or down) else None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) if self.weight is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        f = self.resample_filter.to(x.dtype) if self.resample_filter is not None else None
        w_pad = w.shape[-1] // 2 if w is not None else 0
        f_pad = (f.shape[-1] - 1) // 2 if f is not None else 0

        if self.fused_resample and self.up and w is not None:
            x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels,
                                   stride=2, padding=max(f_pad - w_pad, 0))
            x = F.conv2d(x, w, padding=max(w_pad - f_pad, 0))
        elif self.fused_resample and self.down and w is not None:
            x = F.conv2d(x, w, padding=w_pad + f_pad)
            x = F.conv2d(x, f.tile([self.out_channels, 1, 1, 1]), groups=self.out_channels, stride=2)
        else:
            if self.up:
                # ×4 keeps the mean: each input pixel spreads over a 2×2 output patch.
                x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels,
                                       stride=2, padding=f_pad)
            if self.down:
                x = F.conv2d(x, f.tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2, padding=f_pad)
            if w is not None:
                x = F.conv2d(x, w, padding=w_pad)
        if b is not None:
            x = x.add_(b.reshape(1, -1, 1, 1))
        return x
