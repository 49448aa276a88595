"""NCSN++ (Song et al. 2021, score-SDE): a port of EDM's re-implementation, `SongUNet` in EDM's
training/networks.py (NVlabs/edm), with the 'ncsnpp' settings of EDM's train.py (embedding_type
'fourier', encoder_type 'residual', decoder_type 'standard', channel_mult_noise 2,
resample_filter [1,3,3,1]) and the norms made pluggable (norms.py).

iCT's CIFAR-10 network (sizes UNCONFIRMED, docs/FIDELITY.md): 128 channels, mult (2,2,2) (resolutions 32/16/8),
4 blocks per resolution (iCT-deep: 8), attention at 16, Fourier embedding of c_noise with
scale 0.02, dropout 0.3. Facts kept from EDM's ncsnpp config:

- noise embedding: FourierEmbedding(2·model_channels) (channel_mult_noise 2; a positional
  embedding, the DDPM++ config, uses 1·model_channels and endpoint=True), halves swapped to
  [sin | cos], then Linear → SiLU → Linear → SiLU to 4·model_channels; labels, if any, are
  added after the Fourier features as map_label(one-hot · sqrt(label_dim)).
- blocks: single-head attention, skip_scale sqrt(1/2), GroupNorm eps 1e-6, the [1,3,3,1]
  resample filter, 1×1 skip projection on resampling blocks, additive (not scale-shift)
  embedding. Init: xavier-uniform, biases 0; conv1/proj/output convs × 1e-5; qkv × sqrt(0.2).
- encoder_type 'residual': a progressive input pyramid: at each lower level the image path
  `aux` is downsampled by a fused 3×3 conv and averaged into the features, x = (x + aux)/√2.
- decoder_type 'standard': only level 0 has an output head (norm → SiLU → 3×3 conv); the
  decoder block with attention at a level is its last one.

Simplifications: EDM's label dropout and augmentation labels are not used by iCT and are
left out. `ModelSpec.channels_per_head` and `resblock_updown` are not read (NCSN++ uses one
head and always resamples inside residual blocks). `ModelSpec.norm`/`last_norm` are
honoured (GN by default, as in EDM) so the sLCT norm ablation could run on it too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from repro.nn.adm import labels_to_onehot
from repro.nn.blocks import UNetBlock
from repro.nn import ARCHS, unet_kwargs
from repro.nn.embeddings import EMBEDDINGS
from repro.nn.layers import Conv2d, Linear
from repro.nn.norms import make_norm


class NCSNpp(nn.Module):
    def __init__(self, img_resolution: int, in_channels: int, out_channels: int, label_dim: int = 0,
                 model_channels: int = 128, channel_mult=(2, 2, 2), channel_mult_emb: int = 4,
                 num_blocks: int = 4, attn_resolutions=(16,), dropout: float = 0.1,
                 norm: str = "gn", last_norm: str = "gn", embedding: str = "fourier",
                 fourier_scale: float = 16.0, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.label_dim = label_dim
        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * (2 if embedding == "fourier" else 1)
        init = dict(init_mode="xavier_uniform")
        init_zero = dict(init_mode="xavier_uniform", init_weight=1e-5)
        init_attn = dict(init_mode="xavier_uniform", init_weight=math.sqrt(0.2))
        block = dict(emb_channels=emb_channels, num_heads=1, dropout=dropout, skip_scale=math.sqrt(0.5),
                     eps=1e-6, norm=norm, resample_filter=resample_filter, resample_proj=True,
                     adaptive_scale=False, init=init, init_zero=init_zero, init_attn=init_attn)

        self.map_noise = EMBEDDINGS[embedding](noise_channels, endpoint=True, scale=fourier_scale)
        self.map_label = Linear(label_dim, noise_channels, **init) if label_dim else None
        self.map_layer0 = Linear(noise_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)

        # Encoder with the 'residual' input pyramid.
        self.enc = nn.ModuleDict()
        cout = caux = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3, **init)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, resolution=res * 2, down=True, **block)
                self.enc[f"{res}x{res}_aux_residual"] = Conv2d(caux, cout, 3, down=True, resample_filter=resample_filter,
                                                               fused_resample=True, **init)
                caux = cout
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, resolution=res,
                                                                attention=res in attn_resolutions, **block)
        skips = [m.out_channels for name, m in self.enc.items() if "aux" not in name]

        # Decoder ('standard': one output head, at full resolution).
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
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(
                    cin, cout, resolution=res, attention=(idx == num_blocks and res in attn_resolutions), **block)
        self.out_norm = make_norm(last_norm, cout, img_resolution, 1e-6)
        self.out_conv = Conv2d(cout, out_channels, 3, **init_zero)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, class_labels=None) -> torch.Tensor:
        """Raw F_θ(x, c_noise); c_noise is (B,) as produced by repro.core.precond.c_noise."""
        emb = self.map_noise(c_noise.reshape(-1))
        emb = emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(emb.shape)  # [cos|sin] → [sin|cos], as EDM
        if self.map_label is not None:
            # EDM's SongUNet feeds the one-hot scaled by sqrt(label_dim) (its DhariwalUNet instead
            # draws the label weights sqrt(label_dim) larger; see adm.py).
            onehot = labels_to_onehot(class_labels, self.label_dim, emb)
            emb = emb + self.map_label(onehot * math.sqrt(self.label_dim))
        emb = F.silu(self.map_layer0(emb))
        emb = F.silu(self.map_layer1(emb))

        skips, aux = [], x
        for name, m in self.enc.items():
            if "aux_residual" in name:
                x = skips[-1] = aux = (x + m(aux)) / math.sqrt(2)
            else:
                x = m(x, emb) if isinstance(m, UNetBlock) else m(x)
                skips.append(x)
        for m in self.dec.values():
            if x.shape[1] != m.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = m(x, emb)
        return self.out_conv(F.silu(self.out_norm(x)))


@ARCHS.register("ncsnpp")
def _from_spec(spec) -> NCSNpp:
    # One attention head and resampling inside residual blocks always: channels_per_head and
    # resblock_updown are not read.
    return NCSNpp(**unet_kwargs(spec))
