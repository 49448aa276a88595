"""Shared helpers for the eval tests (no tests here): a tiny random feature network, a toy f."""
import numpy as np
import torch

from repro.eval.fid import FeatureExtractor


def random_extractor(mode="legacy_tensorflow", dim=16, seed=0) -> FeatureExtractor:
    """A small randomly initialised conv net standing in for Inception (same input contract)."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(8, 3, 3, 3, generator=g) * 0.1
    w2 = torch.randn(dim, 8, 3, 3, generator=g) * 0.1

    def one(x):
        h = torch.nn.functional.conv2d(x / 128.0 - 1.0, w1, stride=2, padding=1).tanh()
        h = torch.nn.functional.conv2d(h, w2, stride=2, padding=1).tanh()
        return torch.cat([h.mean((2, 3)), h.amax((2, 3))], dim=1)

    def fn(x):
        # One image at a time: an image's features are then the same bits in any batch on any
        # CPU (a conv kernel's summation order may depend on the batch size), so the tests can
        # demand exact batch invariance of the pipeline itself.
        return torch.cat([one(x[i:i + 1]) for i in range(len(x))])
    return FeatureExtractor(fn, f"random-conv-{seed}", mode)


def toy_f(x, sigma, class_labels=None):
    """An elementwise stand-in for a consistency function: deterministic across batchings."""
    s = sigma.view(-1, 1, 1, 1)
    return torch.tanh(x / torch.sqrt(s ** 2 + 0.25) + 0.3 * torch.sin(3 * x))


def random_images(n, res=16, seed=0, shift=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, size=(n, res, res, 3))
    return np.clip(base + shift, 0, 255).astype(np.uint8)
