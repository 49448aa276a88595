"""The SD VAE (`stabilityai/sd-vae-ft-ema`, sLCT §5.1), built offline from the cache.

`SD_VAE_CONFIG` is the published config.json of that repo (plus scaling_factor, which
diffusers defaults to the same 0.18215), shipped so tests can build the real architecture
without weights. The real model has 83,653,863 parameters.
"""
from __future__ import annotations

import hashlib

SD_VAE_PARAMS = 83_653_863

SD_VAE_CONFIG = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

# Tests only: same block types, two levels, so one 2× downsampling (latent res = res / 2).
TINY_VAE_CONFIG = {
    "act_fn": "silu",
    "block_out_channels": [8, 8],
    "down_block_types": ["DownEncoderBlock2D"] * 2,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "out_channels": 3,
    "sample_size": 32,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
}


def build_vae(config=None, device=None, seed: int = 0):
    """AutoencoderKL from a config dict, randomly initialised (device='meta': no memory)."""
    import torch
    from diffusers import AutoencoderKL
    config = dict(SD_VAE_CONFIG if config is None else config)
    config.pop("_class_name", None)
    config.pop("_diffusers_version", None)
    if device == "meta":
        with torch.device("meta"):
            return AutoencoderKL.from_config(config)
    torch.manual_seed(seed)
    return AutoencoderKL.from_config(config).to(device or "cpu").eval()


def load_vae(cache=None, config_only: bool = False, device=None):
    """The cached sd-vae-ft-ema (eval mode). No hub access: files come from `repro fetch`.

    `config_only`: build from the cached config without weights (random init).
    """
    import json

    from .assets import require_asset
    cfg_path = require_asset("vae-config", cache)
    if config_only:
        return build_vae(json.loads(cfg_path.read_text()), device=device)
    require_asset("vae-weights", cache)
    from diffusers import AutoencoderKL
    # from_pretrained on a local dir reads only config.json + the safetensors file, and
    # converts the older attention key names this checkpoint uses.
    vae = AutoencoderKL.from_pretrained(str(cfg_path.parent), local_files_only=True)
    return vae.to(device or "cpu").eval()


# EvalSpec.vae_dtype -> torch dtype name; fp32 by default, as the LCT code decodes.
VAE_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# Decoding VAEs of this process by (weights sha256, device, dtype): rows that share a training
# (and the untrained / held-out baselines) reuse one instead of loading 84 M parameters each.
_EVAL_VAES: dict = {}
_HASHES: dict = {}


def vae_identity(cache=None) -> str:
    """sha256 of the cached VAE weights, hashed once per (path, size, mtime) in this process."""
    from repro.io import sha256_file

    from .assets import require_asset
    path = require_asset("vae-weights", cache)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def eval_vae(device="cpu", dtype: str = "fp32", cache=None):
    """The VAE that decodes samples on `device` in `dtype` (a VAE_DTYPES name), built once per
    process for each (weights, device, dtype)."""
    import torch

    if dtype not in VAE_DTYPES:
        raise ValueError(f"vae dtype {dtype!r}: choose one of {', '.join(VAE_DTYPES)}")
    dev = torch.device(device)
    key = (vae_identity(cache), str(dev), dtype)
    if key not in _EVAL_VAES:
        vae = load_vae(cache, device=dev)
        _EVAL_VAES[key] = vae if dtype == "fp32" else vae.to(getattr(torch, VAE_DTYPES[dtype]))
    return _EVAL_VAES[key]


def vae_weights_hash(cache=None) -> str:
    from repro.io import sha256_file

    from .assets import require_asset
    return sha256_file(require_asset("vae-weights", cache))


def module_hash(module) -> str:
    """sha256 of a module's state dict, for VAEs that have no weight file (tests)."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()
