"""Downloaded assets: one cache dir ($REPRO_CACHE), filled by `repro fetch`, read offline.

Only `fetch` touches the network. Everything else calls `require_asset(name)`, which returns
the cached path or raises a one-line ReproError naming the file, where it looked and the
command that gets it. clean-fid's own loaders would download; repro/eval/fid.py builds its
feature extractors from these cached files instead.
"""
from __future__ import annotations

import hashlib
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from repro.io import ReproError, atomic_open

from .paths import cache_root

HF_VAE = "https://huggingface.co/stabilityai/sd-vae-ft-ema/resolve/main"
NV_METRICS = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics"
CLEANFID_STATS = "https://www.cs.cmu.edu/~clean-fid/stats"


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    rel: str                     # path under REPRO_CACHE
    group: str                   # `--only` also accepts the group name
    sha256_prefix: str = ""      # checked after download where the publisher states it
    what: str = ""


ASSETS = {a.name: a for a in [
    Asset("vae-config", f"{HF_VAE}/config.json", "vae/sd-vae-ft-ema/config.json", "vae",
          what="SD VAE (sLCT latents) configuration"),
    Asset("vae-weights", f"{HF_VAE}/diffusion_pytorch_model.safetensors",
          "vae/sd-vae-ft-ema/diffusion_pytorch_model.safetensors", "vae",
          what="SD VAE weights"),
    Asset("inception-torchscript", f"{NV_METRICS}/inception-2015-12-05.pt",
          "inception/inception-2015-12-05.pt", "inception",
          what="clean-fid Inception (modes clean, legacy_tensorflow)"),
    Asset("inception-pytorch", "https://github.com/mseitzer/pytorch-fid/releases/download/"
          "fid_weights/pt_inception-2015-12-05-6726825d.pth",
          "inception/pt_inception-2015-12-05-6726825d.pth", "inception",
          sha256_prefix="6726825d",   # torch.hub's convention: the name carries the prefix
          what="pytorch-fid Inception (clean-fid mode legacy_pytorch)"),
    Asset("vgg16", f"{NV_METRICS}/vgg16.pt", "vgg16/vgg16.pt", "vgg16",
          what="StyleGAN2-ADA VGG16 for precision/recall"),
    Asset("elatentlpips-sd15", "https://huggingface.co/Mingguksky/elatentlpips/resolve/main/"
          "elatentlpips_ckpt/sd15_latest_vgg16_tuned.pth", "elatentlpips/sd15_latest_vgg16_tuned.pth",
          "elatentlpips", what="E-LatentLPIPS (sLCT Table 2c): latent VGG16-BN + linear heads, SD1.5"),
    Asset("ref-cifar10-train", f"{CLEANFID_STATS}/cifar10_legacy_tensorflow_train_32.npz",
          "stats/cifar10_legacy_tensorflow_train_32.npz", "stats",
          what="clean-fid CIFAR-10 train statistics (legacy_tensorflow)"),
    Asset("ref-imagenet64-adm", "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
          "ref_batches/imagenet/64/VIRTUAL_imagenet64_labeled.npz",
          "stats/VIRTUAL_imagenet64_labeled.npz", "stats",
          what="ADM evaluator reference batch for ImageNet 64"),
]}


def asset_path(name: str, cache=None) -> Path:
    if name not in ASSETS:
        raise ReproError(f"asset {name!r}: unknown; known: {', '.join(ASSETS)}")
    return cache_root(cache) / ASSETS[name].rel


def require_asset(name: str, cache=None) -> Path:
    p = asset_path(name, cache)
    if not p.is_file():
        raise ReproError(f"{p.name}: missing from the asset cache (looked for {p}); on a "
                         f"machine with internet run `REPRO_CACHE={cache_root(cache)} "
                         f"repro fetch --only {name}` and copy the cache over")
    return p


def select(only=None) -> list:
    if not only:
        return list(ASSETS.values())
    chosen = [a for a in ASSETS.values() if a.name == only or a.group == only]
    if not chosen:
        groups = sorted({a.group for a in ASSETS.values()})
        raise ReproError(f"--only {only}: no such asset; choose from "
                         f"{', '.join(list(ASSETS) + groups)}")
    return chosen


def fetch(only=None, cache=None, dry_run: bool = False, out=None) -> list:
    """Download the selected assets that are not cached yet; returns their paths."""
    out = out or sys.stdout
    paths = []
    for a in select(only):
        dest = cache_root(cache) / a.rel
        state = "cached" if dest.is_file() else "missing"
        print(f"{a.name:24s} {state:8s} {a.url} -> {dest}", file=out)
        paths.append(dest)
        if dry_run or dest.is_file():
            continue
        _download(a, dest)
    return paths


def _download(a: Asset, dest: Path) -> None:
    # atomic_open: a cut connection or a bad checksum leaves no partial file behind.
    h = hashlib.sha256()
    try:
        with atomic_open(dest, "wb") as f, urllib.request.urlopen(a.url, timeout=60) as r:
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)
                h.update(block)
            if a.sha256_prefix and not h.hexdigest().startswith(a.sha256_prefix):
                raise ReproError(f"{a.url}: sha256 {h.hexdigest()[:12]} does not start with "
                                 f"{a.sha256_prefix}; the download is corrupt, retry")
    except OSError as e:
        raise ReproError(f"{a.url}: download failed ({str(e)[:120]}); run `repro fetch` on a "
                         f"machine with internet and copy {cache_root()} over") from None
