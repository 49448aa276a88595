"""Weight-free distributional metrics for the CPU demo (no Inception, no downloads).

They are what their names say, not FID: `w2_pixels` is the exact 2-Wasserstein distance between
the two empirical image sets in pixel space, `fd_pixels` the Fréchet distance between Gaussians
fitted to flattened pixels. Units are those of the arrays passed in (uint8 images: 0..255).
"""
from __future__ import annotations

import numpy as np

from .fid import feature_stats, frechet_distance


def _flat(x) -> np.ndarray:
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float64)


def w2_pixels(x, y, num_iter_max: int = 10_000_000) -> float:
    """sqrt(min over couplings of E||x − y||²) between uniform empirical measures on x and y
    (exact network-simplex OT, POT `ot.emd2`; sets may differ in size)."""
    import ot
    a, b = _flat(x), _flat(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"w2_pixels: image sizes differ ({a.shape[1]} vs {b.shape[1]} values)")
    cost = ot.dist(a, b, metric="sqeuclidean")
    wa, wb = np.full(len(a), 1.0 / len(a)), np.full(len(b), 1.0 / len(b))
    return float(np.sqrt(max(ot.emd2(wa, wb, cost, numItermax=num_iter_max), 0.0)))


def fd_pixels(x, y) -> float:
    """Fréchet distance between Gaussians fitted to the flattened pixels of x and y."""
    mu1, s1 = feature_stats(_flat(x))
    mu2, s2 = feature_stats(_flat(y))
    return frechet_distance(mu1, s1, mu2, s2)
