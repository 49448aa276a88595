"""Fréchet distance, feature statistics, and features of a stream of images through clean-fid.

clean-fid integration: images are handed to clean-fid's own `get_model_features` (the generator
path of `compute_fid(gen=...)`), so the per-mode preprocessing is clean-fid's real code:
'clean' = PIL bicubic to 299 on float channels, 'legacy_pytorch' = torch bilinear to 299
(pytorch-fid), 'legacy_tensorflow' = no resize outside, the TF graph resizes inside. The
Inception networks are clean-fid's classes too (`InceptionV3W`, `InceptionV3`), but built here
from the asset cache: clean-fid's `build_feature_extractor` would download to /tmp or the
torch-hub dir, and this harness must never touch the network outside `repro fetch`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from repro.io import ReproError

MODES = ("clean", "legacy_pytorch", "legacy_tensorflow", "native")
# 'native' is ours: hand the batch to the network unresized (StyleGAN2-ADA's VGG16 resizes
# itself). clean-fid's legacy_tensorflow branch does exactly that, so it is used for it.
_CLEANFID_MODE = {"clean": "clean", "legacy_pytorch": "legacy_pytorch",
                  "legacy_tensorflow": "legacy_tensorflow", "native": "legacy_tensorflow"}

# Which cached file each clean-fid mode needs (names from repro.data.assets).
INCEPTION_ASSET = {"legacy_pytorch": "inception-pytorch", "clean": "inception-torchscript",
                   "legacy_tensorflow": "inception-torchscript"}


@dataclass(frozen=True)
class FeatureExtractor:
    """fn maps a float (B, 3, H, W) batch in [0, 255] (already resized per `mode`) to (B, D).
    `id` names the network and weights; it keys cached reference statistics."""
    fn: Callable
    id: str
    mode: str = "legacy_pytorch"


def feature_stats(features) -> tuple:
    """(mu, sigma) in float64; sigma is the unbiased covariance, as clean-fid and pytorch-fid."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"feature_stats needs (N>=2, D) features, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1-mu2||² + Tr(S1 + S2 − 2 (S1 S2)^½) in float64.

    Tr (S1 S2)^½ is computed as Σ sqrt(eig(A S2 A)) with A = S1^½: A S2 A is symmetric PSD and
    similar to S1 S2, so its eigenvalues are real and a symmetric eigensolver applies. This
    avoids the non-symmetric `sqrtm(S1 S2)` and its imaginary parts / eps retries on
    near-singular products (e.g. fewer samples than dimensions).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"frechet_distance: shapes differ: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {s1.shape} vs {s2.shape}")
    a = _psd_sqrt(s1)
    m = a @ s2 @ a
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


# ----------------------------------------------------------------------------- Inception

def _inception_path(mode: str, cache=None):
    """Cached weights for `mode`, or the offline error before anything could download."""
    from repro.data.assets import asset_path
    from repro.data.paths import cache_root
    if mode not in INCEPTION_ASSET:
        raise ReproError(f"fid_mode {mode!r}: unknown clean-fid mode; choose one of "
                         f"{', '.join(INCEPTION_ASSET)}")
    p = asset_path(INCEPTION_ASSET[mode], cache)
    if not p.is_file():
        raise ReproError(f"{p}: Inception weights for clean-fid mode {mode} not found; run "
                         f"`repro fetch --only inception` on a machine with internet "
                         f"(REPRO_CACHE={cache_root(cache)}) and copy the cache here")
    return p


@contextlib.contextmanager
def _no_download(weights_path):
    """pytorch-fid's `fid_inception_v3` fetches its state dict by URL; answer it from the cache."""
    import cleanfid.inception_pytorch as ip
    orig = ip.load_state_dict_from_url

    def local(url, *a, **k):
        return torch.load(weights_path, map_location="cpu", weights_only=True)
    ip.load_state_dict_from_url = local
    try:
        yield
    finally:
        ip.load_state_dict_from_url = orig


def inception_extractor(mode: str, device="cpu", cache=None) -> FeatureExtractor:
    """clean-fid's Inception for `mode`, loaded only from $REPRO_CACHE/inception/."""
    path = _inception_path(mode, cache)
    device = torch.device(device)
    if mode == "legacy_pytorch":
        from cleanfid.inception_pytorch import InceptionV3
        with _no_download(path):
            net = InceptionV3(output_blocks=[3], resize_input=False).to(device).eval()

        def fn(x):          # as clean-fid's feature_extractor('pytorch_inception')
            return net(x / 255)[0].squeeze(-1).squeeze(-1)
        return FeatureExtractor(fn, "inception-pytorch", mode)
    from cleanfid.inception_torchscript import InceptionV3W
    # download=False: InceptionV3W then just torch.jit.loads <dir>/inception-2015-12-05.pt.
    net = InceptionV3W(str(path.parent), download=False,
                       resize_inside=(mode == "legacy_tensorflow")).to(device).eval()
    return FeatureExtractor(lambda x: net(x), "inception-torchscript", mode)


# ----------------------------------------------------------------------------- streaming

def _as_nhwc_uint8(batch) -> np.ndarray:
    b = batch.detach().cpu().numpy() if torch.is_tensor(batch) else np.asarray(batch)
    if b.dtype != np.uint8 or b.ndim != 4:
        raise ValueError(f"expected uint8 NHWC image batches, got {b.dtype} {b.shape}")
    if b.shape[-1] == 1:        # grey → RGB, as clean-fid's PIL .convert('RGB') does for files
        b = np.repeat(b, 3, axis=-1)
    return b


def cleanfid_features(batches: Iterable, num: int, extractor: FeatureExtractor,
                      batch_size: int = 64, device="cpu", mode=None) -> np.ndarray:
    """Features (num, D) float32 of the first `num` images of `batches` (uint8 NHWC arrays of any
    size) through clean-fid's `get_model_features` with resizing per `mode` (default the
    extractor's). The batches are re-cut to `batch_size`, the last one padded with zeros because
    clean-fid's loop indexes a full batch; the padding is dropped by clean-fid's `[:num_gen]`.
    """
    from cleanfid.fid import get_model_features
    mode = mode or extractor.mode
    if mode not in MODES:
        raise ReproError(f"fid_mode {mode!r}: unknown; choose one of {', '.join(MODES)}")
    it = iter(batches)
    buf, have = [], 0
    state = {"delivered": 0, "exhausted": False}

    def G(_z):              # clean-fid calls G(z) once per batch; z is ignored (our seeds rule)
        nonlocal buf, have
        while have < batch_size and not state["exhausted"]:
            try:
                b = _as_nhwc_uint8(next(it))
            except StopIteration:
                state["exhausted"] = True
                break
            buf.append(b)
            have += len(b)
        if have == 0:
            raise ReproError(f"image stream ended before {num} images")
        cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
        out, rest = cat[:batch_size], cat[batch_size:]
        buf, have = ([rest], len(rest)) if len(rest) else ([], 0)
        state["delivered"] += len(out)
        if len(out) < batch_size:
            out = np.concatenate([out, np.zeros((batch_size - len(out),) + out.shape[1:], np.uint8)])
        if not out.flags.writeable:        # a view into a read-only memmap
            out = out.copy()
        return torch.from_numpy(out).permute(0, 3, 1, 2).float()

    # clean-fid draws z from the global RNG; fork it so evaluation leaves callers' RNG alone.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        feats = get_model_features(G, extractor.fn, mode=_CLEANFID_MODE[mode], z_dim=1,
                                   num_gen=int(num), batch_size=int(batch_size),
                                   device=torch.device(device), verbose=False)
    if state["delivered"] < num:
        raise ReproError(f"image stream ended after {state['delivered']} images, {num} asked")
    feats = np.asarray(feats, dtype=np.float32)
    return feats
