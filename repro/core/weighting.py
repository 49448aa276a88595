"""Per-pair loss weights λ (iCT sec. 3.1). Registry entries take (sigma, sigma_next)."""
from __future__ import annotations

import torch

from repro.core.registry import Registry

WEIGHTINGS = Registry("weighting", binding="LossSpec.weighting")


@WEIGHTINGS.register("ict")
def ict_weight(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """λ(σ_i) = 1/(σ_{i+1} − σ_i) (iCT sec. 3.4; sLCT sec. 3)."""
    return 1.0 / (sigma_next - sigma)


@WEIGHTINGS.register("uniform")
def uniform_weight(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(sigma_next)


def edm_weight(sigma: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM / CM 'karras' weight 1/σ² + 1/σ_d² (SNR + 1/σ_d²); used by the sLCT diffusion term."""
    return 1.0 / sigma**2 + 1.0 / sigma_data**2


@WEIGHTINGS.register("edm")
def _edm_pair(sigma: torch.Tensor, sigma_next: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    # CM's get_weightings('karras') evaluates at the student's (higher) σ.
    return edm_weight(sigma_next, sigma_data)

