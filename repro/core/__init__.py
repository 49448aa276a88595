"""The math of iCT / sLCT consistency training, in plain torch (no gin, no files).

Names resolve lazily (PEP 562), so the torch-free modules (curricula, defaults) can be imported
by the light commands (`repro list/show/tables`) without loading torch.
"""
import importlib

_EXPORTS = {
    "coupling": ("COUPLINGS", "no_coupling", "ot_coupling"),
    "curricula": ("adaptive_c", "discretization_steps", "ict_c"),
    "distances": ("DISTANCES", "MissingDependencyError", "cauchy", "e_latent_lpips", "geman_mcclure", "huber",
                  "l2", "pseudo_huber", "squared_norm"),
    "objective": ("ConsistencyLoss", "DiffusionLoss", "build_loss"),
    "precond": ("Consistency", "Denoiser", "c_noise", "scalings"),
    "samplers": ("diffusion_sigmas", "euler_sampler", "multistep", "onestep", "sigmas_from_ts"),
    "sigmas": ("index_probs", "karras_sigmas", "lognormal_index_probs", "sample_indices", "uniform_index_probs"),
    "weighting": ("WEIGHTINGS", "edm_weight", "ict_weight", "uniform_weight"),
}
_MODULE_OF = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
