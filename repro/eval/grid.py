"""A sample grid as one PNG, written atomically (tiling by torchvision.utils.make_grid)."""
from __future__ import annotations

import io

import numpy as np


def make_grid(images_uint8, nrow: int = 8, pad: int = 2, fill: int = 0) -> np.ndarray:
    """(N, H, W, C) uint8 -> (rows·(H+pad)+pad, ncol·(W+pad)+pad, C) uint8 tiled row-major."""
    import torch
    import torch.nn.functional as F
    from torchvision.utils import make_grid as tv_make_grid

    x = images_uint8.detach().cpu().numpy() if hasattr(images_uint8, "detach") else np.asarray(images_uint8)
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"make_grid needs non-empty uint8 NHWC images, got {x.dtype} {x.shape}")
    c = x.shape[-1]
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    g = tv_make_grid(t, nrow=max(1, nrow), padding=pad, pad_value=fill)
    if len(x) == 1:
        # torchvision returns a lone image without its border; keep the border so a grid of one
        # looks like a grid of many.
        g = F.pad(g, (pad, pad, pad, pad), value=fill)
    if c == 1:
        g = g[:1]      # torchvision widens grey to RGB; keep the PNG single-channel
    return g.permute(1, 2, 0).contiguous().numpy()


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
