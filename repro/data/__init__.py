"""Data layer: readers, `repro data prepare`, the latent cache, assets, the toy sets.

Names resolve lazily so `import repro.data` (and the CLI) stays cheap: torch and diffusers load
only when a function that needs them is used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "open_train_set": "trainset", "decode": "trainset", "TrainSet": "trainset",
    "digits_split": "toy", "prepare": "prepare", "load_prepared": "prepare",
    "encode_dataset": "latents", "load_latents": "latents", "decode_latents": "latents",
    "load_vae": "vae", "build_vae": "vae", "SD_VAE_CONFIG": "vae",
    "require_asset": "assets", "fetch": "assets", "ASSETS": "assets",
    "prefetch": "prefetch", "DATASETS": "catalog", "data_root": "paths", "cache_root": "paths",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
