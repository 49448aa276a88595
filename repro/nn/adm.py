"""ADM UNet (Dhariwal & Nichol 2021): a port of EDM's re-implementation, `DhariwalUNet` in EDM's
training/networks.py (NVlabs/edm), with the norms made pluggable (norms.py).

Used by sLCT for 32×32×4 latents (LCT code: 128 ch, mult (1,2,3,4), 4 blocks, attention at
16 and 8 and in the bottleneck, NsLN norms) and by iCT on ImageNet-64 (CM's ADM: 192 ch,
3 blocks, attention at 32/16/8, 1000 classes). Facts kept from EDM:

- encoder: 3×3 input conv, then per level a down block (except level 0) and `num_blocks`
  blocks; every encoder output is a skip. Decoder: per level an up block (the lowest level
  has instead `in0` with attention and `in1`), then `num_blocks + 1` blocks that each
  concatenate one skip; attention in every block whose resolution is listed.
- blocks: adaptive scale-shift, skip_scale 1, box resample filter [1,1], no skip projection
  when the width is kept, heads = channels // 64 (see blocks.py for narrow widths).
- embedding: PositionalEmbedding(model_channels, max_positions 10000, endpoint False) →
  Linear → SiLU → Linear (+ label Linear) → SiLU; width model_channels·channel_mult_emb.
- init: kaiming-uniform × sqrt(1/3) for weights and biases; zero for conv1, proj, out_conv
  (each block starts as the identity and the net outputs 0).
- labels: map_label(one-hot) without bias, its weights kaiming-normal × sqrt(label_dim) (the
  one-hot itself is not scaled, unlike SongUNet; see ncsnpp.py).

`ModelSpec.resblock_updown` is not read: this architecture always resamples inside residual
blocks (the sLCT code ignores the flag for this model type). Augmentation labels
and label dropout (EDM options) are not used by either paper and are left out.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from repro.nn.blocks import UNetBlock
from repro.nn import ARCHS, unet_kwargs
from repro.nn.embeddings import EMBEDDINGS
from repro.nn.layers import Conv2d, Linear
from repro.nn.norms import make_norm


def labels_to_onehot(class_labels, label_dim: int, like: torch.Tensor) -> torch.Tensor:
    """Integer labels (B,) become one-hot (B, label_dim); float (B, label_dim) pass through."""
    if class_labels is None:
        raise ValueError(f"this network is class-conditional (label_dim={label_dim}): pass class_labels")
    if not class_labels.is_floating_point():
        class_labels = F.one_hot(class_labels.long(), label_dim)
    return class_labels.to(device=like.device, dtype=torch.float32)


class ADMUNet(nn.Module):
    def __init__(self, img_resolution: int, in_channels: int, out_channels: int, label_dim: int = 0,
                 model_channels: int = 192, channel_mult=(1, 2, 3, 4), channel_mult_emb: int = 4,
                 num_blocks: int = 3, attn_resolutions=(32, 16, 8), channels_per_head: int = 64,
                 dropout: float = 0.1, norm: str = "gn", last_norm: str = "gn",
                 embedding: str = "positional", fourier_scale: float = 16.0):
        super().__init__()
        self.label_dim = label_dim
        emb_channels = model_channels * channel_mult_emb
        init = dict(init_mode="kaiming_uniform", init_weight=math.sqrt(1 / 3), init_bias=math.sqrt(1 / 3))
        init_zero = dict(init_mode="kaiming_uniform", init_weight=0.0, init_bias=0.0)
        block = dict(emb_channels=emb_channels, channels_per_head=channels_per_head, dropout=dropout,
                     skip_scale=1.0, eps=1e-5, norm=norm, resample_filter=(1, 1), resample_proj=False,
                     adaptive_scale=True, init=init, init_zero=init_zero)

        # Noise (and label) embedding.
        self.map_noise = EMBEDDINGS[embedding](model_channels, endpoint=False, scale=fourier_scale)
        self.map_layer0 = Linear(model_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)
        self.map_label = (Linear(label_dim, emb_channels, bias=False, init_mode="kaiming_normal",
                                 init_weight=math.sqrt(label_dim)) if label_dim else None)

        # Encoder.
        self.enc = nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3, **init)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, resolution=res * 2, down=True, **block)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, resolution=res,
                                                                attention=res in attn_resolutions, **block)
        skips = [m.out_channels for m in self.enc.values()]

        # Decoder.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, resolution=res, attention=True, **block)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, resolution=res, **block)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, resolution=res // 2, up=True, **block)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, resolution=res,
                                                                attention=res in attn_resolutions, **block)
        self.out_norm = make_norm(last_norm, cout, img_resolution, 1e-5)
        self.out_conv = Conv2d(cout, out_channels, 3, **init_zero)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, class_labels=None) -> torch.Tensor:
        """Raw F_θ(x, c_noise); c_noise is (B,) as produced by repro.core.precond.c_noise."""
        emb = self.map_noise(c_noise.reshape(-1))
        emb = self.map_layer1(F.silu(self.map_layer0(emb)))
        if self.map_label is not None:
            emb = emb + self.map_label(labels_to_onehot(class_labels, self.label_dim, emb))
        emb = F.silu(emb)

        skips = []
        for m in self.enc.values():
            x = m(x, emb) if isinstance(m, UNetBlock) else m(x)
            skips.append(x)
        for m in self.dec.values():
            if x.shape[1] != m.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = m(x, emb)
        return self.out_conv(F.silu(self.out_norm(x)))


@ARCHS.register("adm")
def _from_spec(spec) -> ADMUNet:
    return ADMUNet(channels_per_head=spec.channels_per_head, **unet_kwargs(spec))
