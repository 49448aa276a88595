"""Deterministic sampling: sample i depends only on (base_seed, i), never on the batching.

Each sample gets its own CPU generator seeded with `sample_seed(base_seed, i)`; it draws the
initial noise first, then one tensor per intermediate multistep re-noise. So the i-th sample is
the same for any batch size, any device and any sharding over processes (`start`).
"""
from __future__ import annotations

import hashlib
import io
from typing import Callable, Optional

import numpy as np
import torch


def sample_seed(base_seed: int, i: int, stream: str = "") -> int:
    """A 63-bit seed from (base_seed, i); hashing keeps nearby (base, i) pairs unrelated."""
    h = hashlib.sha256(f"{int(base_seed)}:{int(i)}:{stream}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def sample_noise(i: int, shape, n_noise: int, base_seed: int) -> list:
    """[z, ε_1, …, ε_n_noise] for sample i, each of `shape`, float32 on the CPU."""
    g = torch.Generator(device="cpu").manual_seed(sample_seed(base_seed, i))
    return [torch.randn(tuple(shape), generator=g) for _ in range(1 + n_noise)]


def uniform_class_sampler(num_classes: int, base_seed: int) -> Callable:
    """indices -> labels, label i uniform in [0, num_classes) from its own seed."""
    def f(indices):
        return torch.tensor([int(torch.randint(num_classes, (1,), generator=torch.Generator()
                                               .manual_seed(sample_seed(base_seed, int(i), "label"))))
                             for i in indices], dtype=torch.long)
    return f


def sample_batches(f, num: int, batch_size: int, shape, sigmas, base_seed: int, device="cpu",
                   class_sampler: Optional[Callable] = None, start: int = 0,
                   sigma_min: float = 0.002):
    """Yield model-space batches of samples start .. start+num−1 (the last batch may be short).

    f(x, sigma, class_labels) is the consistency function. len(sigmas) == 1 is the one-step
    sampler, more is CM's stochastic multistep sampler with noise from the per-sample seeds.
    """
    from repro.core.samplers import multistep, onestep
    sigmas = [float(s) for s in sigmas]
    device = torch.device(device)
    for s in range(start, start + num, batch_size):
        idx = list(range(s, min(s + batch_size, start + num)))
        per = [sample_noise(i, shape, len(sigmas) - 1, base_seed) for i in idx]
        z = torch.stack([p[0] for p in per]).to(device)
        labels = None if class_sampler is None else class_sampler(torch.tensor(idx)).to(device)
        if len(sigmas) == 1:
            x = onestep(f, z, sigmas[0], class_labels=labels)
        else:
            noise = [torch.stack([p[k] for p in per]).to(device) for k in range(1, len(sigmas))]
            x = multistep(f, z, sigmas, sigma_min=sigma_min, noise=noise, class_labels=labels)
        yield x


def to_uint8(x, rounding: str = "round") -> torch.Tensor:
    """[-1, 1] NCHW → uint8 NHWC on the CPU.

    'round' (default): ((x+1)·127.5).round().clamp(0, 255) — EDM/StyleGAN's x·127.5+128 rule up
    to ties, and the exact inverse of the data pipeline's u/127.5−1, so real images round-trip
    unchanged. 'floor': ((x+1)·127.5).clamp(0, 255) truncated, as CM/ADM's code does. LCT's
    [0,1]·255 rescale differs from both by < 1 level; the choice is recorded in the protocol.
    """
    y = (torch.as_tensor(x).detach().float().cpu() + 1) * 127.5
    if rounding == "round":
        y = y.round()
    elif rounding != "floor":
        raise ValueError(f"rounding {rounding!r}: use 'round' or 'floor'")
    return y.clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def jpeg_roundtrip(images_uint8, quality: int = 75) -> np.ndarray:
    """Save each image as JPEG (PIL default quality 75) and read it back, as the sLCT code does
    before pytorch-fid (gen_format='jpg'; docs/FIDELITY.md)."""
    from PIL import Image
    x = images_uint8.numpy() if torch.is_tensor(images_uint8) else np.asarray(images_uint8)
    out = np.empty_like(x)
    for k, im in enumerate(x):
        buf = io.BytesIO()
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[k] = np.asarray(Image.open(buf)).reshape(im.shape)
    return out
