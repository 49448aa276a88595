"""`open_train_set(spec)`: the training data in model space, gathered by index.

The training loop owns the randomness: it draws indices (and, for hflip rows, a flip mask)
with its own generator and calls `batch(indices, flip_mask)`. So data order and flips are part
of the loop's resumable RNG state, and this object is stateless.

Pixels map to [-1, 1]. Latents are stored ×0.18215 (the SD-VAE scale factor) and normalised as
((z/0.18215) − mean)/std · 0.5 with the stored per-element stats when `spec.latent_norm`
(LCT code); without it they are returned as stored (the E-LatentLPIPS row).
"""
from __future__ import annotations

import numpy as np
import torch

from repro.io import ReproError
from repro.specs import DataSpec

SCALE = 0.18215
VAE_DECODE = "vae:sd-vae-ft-ema"


class Decoder:
    """Model space -> uint8 images, carrying the stable name that result records show."""

    def __init__(self, fn, name: str):
        self.fn, self.name = fn, name

    def __call__(self, x, **kw):
        return self.fn(x, **kw)

    def __repr__(self):
        return f"Decoder({self.name!r})"


class TrainSet:
    def __init__(self, array, labels, shape, to_model, from_model, name, limit=None,
                 flip_ok=True, decode_name="pixels"):
        n = len(array) if limit is None else min(int(limit), len(array))
        self.array, self.n, self.shape, self.name = array, n, tuple(shape), name
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels[:n]))
        self._to_model, self._flip_ok = to_model, flip_ok
        self.decoder = Decoder(from_model, decode_name)

    def __len__(self):
        return self.n

    def batch(self, indices, flip_mask=None):
        """(x float32 (B, C, H, W), labels int64 (B,) or None) for `indices` (LongTensor)."""
        idx = torch.as_tensor(indices).long().cpu().numpy()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"{self.name}: index out of range [0, {self.n})")
        # Gather in ascending order: memmap reads become near-sequential, then restore order.
        order = np.argsort(idx, kind="stable")
        raw = np.empty((len(idx),) + self.array.shape[1:], dtype=self.array.dtype)
        raw[order] = self.array[idx[order]]
        x = self._to_model(raw)
        if flip_mask is not None:
            if not self._flip_ok:
                raise ReproError(f"{self.name}: horizontal flips of latents are not flips of "
                                 f"images; encode the flipped images (`repro data encode "
                                 f"--with-flips`) instead of passing flip_mask")
            m = torch.as_tensor(flip_mask, dtype=torch.bool).cpu()
            x[m] = x[m].flip(-1)
        labels = None if self.labels is None else self.labels[torch.from_numpy(idx)]
        return x, labels

    def decode(self, x, **kw):
        """Model space → uint8 images (B, H, W, C) on the CPU."""
        return self.decoder(x, **kw)


def pixels_to_model(raw: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(raw).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()


def pixels_from_model(x, **_) -> torch.Tensor:
    x = torch.as_tensor(x).detach().float().cpu()
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def latent_to_model(mean, std, normalise: bool):
    mean_t, std_t = torch.from_numpy(mean).float(), torch.from_numpy(std).float()

    def f(raw):
        z = torch.from_numpy(raw).float()
        return ((z / SCALE - mean_t) / std_t * 0.5) if normalise else z
    return f


def latent_from_model(mean, std, normalise: bool, vae_fn):
    def f(x, vae=None, batch_size=16, device=None, vae_dtype="fp32", **_):
        """Decode where the latents are (or on `device`): samples made on a GPU stay there."""
        from .latents import decode_latents
        x = torch.as_tensor(x).detach().float()
        x = x.to(device) if device is not None else x
        z = x * torch.from_numpy(std).float().to(x.device) / 0.5 + torch.from_numpy(mean).float().to(x.device) \
            if normalise else x / SCALE
        vae = vae if vae is not None else vae_fn(x.device, vae_dtype)
        return decode_latents(z, vae=vae, batch_size=batch_size)
    return f


def open_train_set(spec: DataSpec, root=None) -> TrainSet:
    if spec.name == "digits":
        from .toy import DIGITS_LEVELS, digits_split
        (train, labels), _ = digits_split(with_labels=True)
        half = DIGITS_LEVELS / 2

        def to_model(raw):
            return torch.from_numpy(raw).float().div_(half).sub_(1.0).unsqueeze(1)
        return TrainSet(train, labels if spec.num_classes else None, (1, 8, 8), to_model,
                        pixels_from_model, "digits",
                        spec.limit, decode_name="digits:pixels")
    if spec.latent:
        shape = (4, spec.resolution // 8, spec.resolution // 8)
    else:
        shape = (spec.channels, spec.resolution, spec.resolution)
    if spec.name == "synthetic":
        from .toy import synthetic_arrays
        n = spec.limit or 64
        data, labels = synthetic_arrays(shape, n, spec.latent, spec.num_classes)
        if spec.latent:      # already model space; decoding treats it as normalised, stats 0/1
            zero, one = np.zeros(shape, np.float32), np.ones(shape, np.float32)
            return TrainSet(data, labels, shape, torch.from_numpy,
                            latent_from_model(zero, one, True, _default_vae), "synthetic",
                            flip_ok=False, decode_name=VAE_DECODE)
        return TrainSet(data, labels, shape, pixels_to_model, pixels_from_model, "synthetic")
    if spec.latent:
        from .latents import load_latents
        lat, labels, stats, _ = load_latents(spec.name, root)
        if tuple(lat.shape[1:]) != shape:
            raise ReproError(f"{spec.name}: latent cache holds {tuple(lat.shape[1:])}, the row "
                             f"wants {shape} (resolution {spec.resolution})")
        return TrainSet(lat, labels if spec.num_classes else None, shape,
                        latent_to_model(stats["mean"], stats["std"], spec.latent_norm),
                        latent_from_model(stats["mean"], stats["std"], spec.latent_norm,
                                          _default_vae),
                        spec.name, spec.limit, flip_ok=False, decode_name=VAE_DECODE)
    from .prepare import load_prepared
    images, labels, manifest = load_prepared(spec.name, root)
    if tuple(images.shape[1:]) != (spec.resolution, spec.resolution, spec.channels):
        raise ReproError(f"{spec.name}: prepared images are {tuple(images.shape[1:])}, the row "
                         f"wants {spec.resolution}x{spec.resolution}x{spec.channels}")
    return TrainSet(images, labels if spec.num_classes else None, shape, pixels_to_model,
                    pixels_from_model, spec.name, spec.limit)


def _default_vae(device="cpu", dtype="fp32"):
    from .vae import eval_vae
    return eval_vae(device, dtype)


def decode(x, spec: DataSpec, root=None, vae=None, batch_size: int = 16) -> torch.Tensor:
    """Model space → uint8 images (B, H, W, C): pixels directly, latents through the VAE."""
    return open_train_set(spec, root).decode(x, vae=vae, batch_size=batch_size)
