"""A sample grid as one PNG, written atomically."""
from __future__ import annotations

import io
import math

import numpy as np


def make_grid(images_uint8, nrow: int = 8, pad: int = 2, fill: int = 0) -> np.ndarray:
    """(N, H, W, C) uint8 -> (rows·(H+pad)+pad, nrow·(W+pad)+pad, C) uint8 tiled row-major."""
    x = images_uint8.detach().cpu().numpy() if hasattr(images_uint8, "detach") else np.asarray(images_uint8)
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"make_grid needs non-empty uint8 NHWC images, got {x.dtype} {x.shape}")
    n, h, w, c = x.shape
    ncol = max(1, min(nrow, n))
    rows = math.ceil(n / ncol)
    out = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), fill, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        out[y0:y0 + h, x0:x0 + w] = x[i]
    return out


def save_grid(images_uint8, path, nrow: int = 8, pad: int = 2, min_tile: int = 0) -> None:
    from PIL import Image

    from repro.io import atomic_write_bytes
    g = make_grid(images_uint8, nrow, pad)
    # Tiny images (the 8x8 demo digits) are blown up with nearest-neighbour so a person can see them.
    scale = max(1, min_tile // int(np.asarray(images_uint8).shape[1])) if min_tile else 1
    if scale > 1:
        g = np.repeat(np.repeat(g, scale, 0), scale, 1)
    img = Image.fromarray(g[..., 0] if g.shape[-1] == 1 else g)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
