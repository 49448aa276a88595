"""Metric functions d(x, y) (iCT sec. 3.3; sLCT eq. 6-8, Table 2c), per sample.

Every function takes (x, y, c, reduction) and returns a (B,) fp32 tensor. With r = x − y:
reduction 'sum' uses s = ||r||² (the papers' formulas), 'mean' uses s = ||r||²/D (LCT code;
switch loss_reduction, docs/FIDELITY.md). Work is done in fp32 because bf16 squares of small
residuals lose most of their bits.
"""
from __future__ import annotations

import torch

from repro.core.registry import Registry
from repro.io import ReproError

DISTANCES = Registry("distance", binding="LossSpec.distance")
# How the squared residual ||r||² of each sample is reduced over its D elements.
REDUCTIONS = Registry("reduction", binding="LossSpec.reduction")


@REDUCTIONS.register("sum")
def _sum(s: torch.Tensor, dim: int) -> torch.Tensor:
    return s


@REDUCTIONS.register("mean")
def _mean(s: torch.Tensor, dim: int) -> torch.Tensor:
    return s / dim


def squared_norm(x: torch.Tensor, y: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    reduce = REDUCTIONS[reduction]
    r = (x.float() - y.float()).flatten(1)
    return reduce(r.pow(2).sum(dim=1), r.shape[1])


@DISTANCES.register("l2")
def l2(x, y, c=None, reduction="sum"):
    """s (sLCT Table 2c 'L2'); c is unused."""
    return squared_norm(x, y, reduction)


@DISTANCES.register("pseudo_huber")
def pseudo_huber(x, y, c, reduction="sum"):
    """sqrt(s + c²) − c (iCT sec. 3.3; sLCT eq. 7). Also the paper's Table-2c 'Huber' row:
    the LCT code's `huber` is this function."""
    s = squared_norm(x, y, reduction)
    # Same function written as s/(sqrt(s + c²) + c): the literal form cancels catastrophically
    # in fp32 once s << c², which is the usual regime late in training.
    if isinstance(c, (int, float)) and c == 0:
        return torch.sqrt(s)  # the stable form would be 0/0 at s = 0
    return s / (torch.sqrt(s + c**2) + c)


@DISTANCES.register("huber")
def huber(x, y, c, reduction="sum"):
    """True Huber on a = sqrt(s): a²/2 if a ≤ c, else c(a − c/2).

    Not used by any paper row — sLCT's 'Huber' row is pseudo_huber (docs/FIDELITY.md); kept for
    completeness. The linear branch takes sqrt(max(s, c²)) so its gradient stays finite at s=0.
    """
    s = squared_norm(x, y, reduction)
    a = torch.sqrt(torch.clamp(s, min=c**2))
    return torch.where(s <= c**2, 0.5 * s, c * (a - 0.5 * c))


@DISTANCES.register("cauchy")
def cauchy(x, y, c, reduction="sum"):
    """log(1 + s/(2c²)) (sLCT eq. 6); the code's log(0.5·mse + c²) − 2 log c is the same."""
    s = squared_norm(x, y, reduction)
    return torch.log1p(s / (2.0 * c**2))


@DISTANCES.register("geman_mcclure")
def geman_mcclure(x, y, c, reduction="sum"):
    """2s/(s + 4c²) (sLCT eq. 8)."""
    s = squared_norm(x, y, reduction)
    return 2.0 * s / (s + 4.0 * c**2)


class MissingDependencyError(ReproError, NotImplementedError):
    """A row needs a package or weights this environment does not have."""


@DISTANCES.register("e_latent_lpips")
def e_latent_lpips(x, y, c=None, reduction="mean", model=None):
    """E-LatentLPIPS (Kang et al. 2024; sLCT Table 2c) between latents. `c` and `reduction` do not
    apply: the metric averages over its own features. `model` is the frozen network that
    repro.nn.latent_lpips builds and repro.train.build binds here. Called without augmentation
    ensembling (the LCT row uses augment=None) on the latents as stored (x 0.18215, not normalised
    per element), so normalize=False; the exact call flags of the LCT code are UNCONFIRMED."""
    if model is None:
        raise MissingDependencyError(
            "LossSpec.distance='e_latent_lpips': no E-LatentLPIPS network bound; it needs the package "
            "`elatentlpips` (pip install -e '.[elpips]') and `repro fetch --only elatentlpips`")
    return model(x.float(), y.float(), normalize=False, ensembling=False).reshape(x.shape[0])
