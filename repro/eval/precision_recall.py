"""Improved precision and recall (Kynkäänniemi et al. 2019), k = 3.

Each set's manifold is the union of balls around its points, radius = distance to the k-th
nearest other point of the same set. Precision = share of fake points inside the real
manifold; recall = share of real points inside the fake manifold. As in StyleGAN2-ADA's
`compute_pr` and the ADM evaluator, the self-distance 0 is counted, so the radius is the
(k+1)-th smallest distance, and "inside" is `<=`.

Distances are computed in (row × column) tiles on the given device and the k+1 smallest
per row are merged tile by tile, so memory is O(tile²) and 50K × 50K fits anywhere.
"""
from __future__ import annotations

import torch

from repro.io import ReproError

from .fid import FeatureExtractor, inception_extractor

PR_EXTRACTORS = ("none", "vgg16_k3", "inception_k3")


def _tiles(n: int, size: int):
    for s in range(0, n, size):
        yield s, min(s + size, n)


@torch.no_grad()
def knn_radii(feats: torch.Tensor, k: int = 3, tile: int = 4096) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in the same set (self excluded)."""
    n = len(feats)
    if n <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {n}")
    out = torch.empty(n, dtype=feats.dtype, device=feats.device)
    for r0, r1 in _tiles(n, tile):
        best = None
        for c0, c1 in _tiles(n, tile):
            d = torch.cdist(feats[r0:r1], feats[c0:c1])
            cand = d if best is None else torch.cat([best, d], dim=1)
            best = cand.topk(min(k + 1, cand.shape[1]), dim=1, largest=False).values
        out[r0:r1] = best[:, k]
    return out


@torch.no_grad()
def coverage(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor,
             tile: int = 4096) -> torch.Tensor:
    """Bool (len(query),): is query point q within radii[j] of some ref point j."""
    inside = torch.zeros(len(query), dtype=torch.bool, device=query.device)
    for q0, q1 in _tiles(len(query), tile):
        for c0, c1 in _tiles(len(ref), tile):
            d = torch.cdist(query[q0:q1], ref[c0:c1])
            inside[q0:q1] |= (d <= radii[c0:c1][None, :]).any(dim=1)
    return inside


def precision_recall(real_feats, fake_feats, k: int = 3, device="cpu", tile: int = 4096) -> tuple:
    """(precision, recall) as floats. Features: (N, D) arrays or tensors; float64 stays float64."""
    def t(x):
        x = torch.as_tensor(x)
        return (x if x.dtype == torch.float64 else x.float()).to(device)
    real, fake = t(real_feats), t(fake_feats)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall: need (N, D) features of equal D, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    fake = fake.to(real.dtype)
    precision = coverage(fake, real, knn_radii(real, k, tile), tile).double().mean().item()
    recall = coverage(real, fake, knn_radii(fake, k, tile), tile).double().mean().item()
    return precision, recall


def vgg16_extractor(device="cpu", cache=None) -> FeatureExtractor:
    """StyleGAN2-ADA's VGG16 (torchscript, from the asset cache): uint8 images in, 4096-d out.
    It resizes to 224 itself, hence mode 'native'."""
    from repro.data.assets import asset_path
    from repro.data.paths import cache_root
    p = asset_path("vgg16", cache)
    if not p.is_file():
        raise ReproError(f"{p}: VGG16 weights for precision/recall (vgg16_k3) not found; run "
                         f"`repro fetch --only vgg16` on a machine with internet "
                         f"(REPRO_CACHE={cache_root(cache)}) and copy the cache here")
    net = torch.jit.load(str(p), map_location=torch.device(device)).eval()

    def fn(x):      # StyleGAN2-ADA feeds uint8 NCHW and asks for return_features
        return net(x.round().clamp(0, 255).to(torch.uint8), return_features=True)
    return FeatureExtractor(fn, "vgg16-stylegan2ada", "native")


def pr_extractor(name: str, device="cpu", cache=None, fid_mode: str = "legacy_tensorflow"):
    """The feature network EvalSpec.precision_recall names, or None for 'none'.
    'inception_k3' is the ADM evaluator's choice: the same Inception pool features as FID."""
    if name == "none":
        return None
    if name == "vgg16_k3":
        return vgg16_extractor(device, cache)
    if name == "inception_k3":
        return inception_extractor(fid_mode, device, cache)
    raise ReproError(f"EvalSpec.precision_recall={name!r}: unknown; choose one of "
                     f"{', '.join(PR_EXTRACTORS)}")
