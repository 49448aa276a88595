"""The two built-in sets that need no files: 'digits' and 'synthetic'.

digits: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 17 gray levels 0..16,
shipped inside the sklearn wheel, so it works offline). `digits_split()` is the fixed
train/held-out split the demo rows train and score on.
synthetic: deterministic random data of any row's shape, for smoke runs.
"""
from __future__ import annotations

import numpy as np

DIGITS_HELDOUT = 500
DIGITS_SEED = 20231023          # fixed permutation; changing it changes every demo number
DIGITS_LEVELS = 16              # pixel values are 0..16


def digits_split(with_labels: bool = False):
    """(train uint8 (1297, 8, 8), heldout uint8 (500, 8, 8)) in levels 0..16, fixed split.

    With `with_labels`, returns ((train, train_labels), (heldout, heldout_labels)).
    """
    from sklearn.datasets import load_digits
    d = load_digits()
    images = d.images.astype(np.uint8)            # float 0..16 with integer values
    perm = np.random.RandomState(DIGITS_SEED).permutation(len(images))
    tr, ho = perm[DIGITS_HELDOUT:], perm[:DIGITS_HELDOUT]
    if with_labels:
        t = d.target.astype(np.int64)
        return (images[tr], t[tr]), (images[ho], t[ho])
    return images[tr], images[ho]


def synthetic_arrays(shape, n: int, latent: bool, num_classes: int = 0, seed: int = 0):
    """Deterministic data: uint8 NHWC images for pixel rows, model-space floats for latent rows.

    Latents are drawn N(0, 0.5²): that is what normalised latents look like (σ_data = 0.5).
    """
    rng = np.random.default_rng(seed)
    c, h, w = shape
    if latent:
        data = (rng.standard_normal((n, c, h, w)) * 0.5).astype(np.float32)
    else:
        # Smooth-ish images (a low-res field upsampled) so they are not pure noise.
        low = rng.integers(0, 256, size=(n, max(h // 4, 1), max(w // 4, 1), c), dtype=np.uint8)
        data = np.repeat(np.repeat(low, -(-h // low.shape[1]), 1), -(-w // low.shape[2]), 2)
        data = np.ascontiguousarray(data[:, :h, :w])
    labels = rng.integers(0, num_classes, size=n).astype(np.int64) if num_classes else None
    return data, labels


def heldout_model_space(name: str, shape, n: int, latent: bool = False):
    """Held-out real data of a toy set in model space (float tensor), for the demo metrics:
    'digits' gives the 500 held-out digits; 'synthetic' (smoke runs) a second draw (seed 1) of
    at least `n` items, standing in for held-out data so the path runs."""
    import torch

    if name == "synthetic":
        from .trainset import pixels_to_model

        raw, _ = synthetic_arrays(shape, max(n, 2), latent, seed=1)
        return torch.from_numpy(raw) if latent else pixels_to_model(raw)
    if name != "digits":
        raise ValueError(f"{name}: not a toy set; only 'digits' and 'synthetic' have held-out data here")
    _, heldout = digits_split()
    return torch.from_numpy(heldout).float().div(DIGITS_LEVELS / 2).sub(1.0).unsqueeze(1)
