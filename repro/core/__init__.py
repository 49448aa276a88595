"""The math of iCT / sLCT consistency training, in plain torch (no gin, no files)."""
from .coupling import COUPLINGS, no_coupling, ot_coupling
from .curricula import adaptive_c, discretization_steps, ict_c
from .distances import (DISTANCES, MissingDependencyError, cauchy, e_latent_lpips, geman_mcclure, huber, l2,
                        pseudo_huber, squared_norm)
from .objective import ConsistencyLoss, DiffusionLoss, build_loss
from .precond import Consistency, Denoiser, c_noise, scalings
from .samplers import diffusion_sigmas, euler_sampler, multistep, onestep, sigmas_from_ts
from .sigmas import index_probs, karras_sigmas, lognormal_index_probs, sample_indices, uniform_index_probs
from .weighting import WEIGHTINGS, edm_weight, ict_weight, uniform_weight

__all__ = [
    "COUPLINGS", "no_coupling", "ot_coupling",
    "adaptive_c", "discretization_steps", "ict_c",
    "DISTANCES", "MissingDependencyError", "cauchy", "e_latent_lpips", "geman_mcclure", "huber", "l2",
    "pseudo_huber", "squared_norm",
    "ConsistencyLoss", "DiffusionLoss", "build_loss",
    "Consistency", "Denoiser", "c_noise", "scalings",
    "diffusion_sigmas", "euler_sampler", "multistep", "onestep", "sigmas_from_ts",
    "index_probs", "karras_sigmas", "lognormal_index_probs", "sample_indices", "uniform_index_probs",
    "WEIGHTINGS", "edm_weight", "ict_weight", "uniform_weight",
]
