"""The E-LatentLPIPS network (Kang et al. 2024) for SD1.5 latents, built without its package's
own loader, which downloads into ./ckpt and unpickles with weights_only=False.

The package's latent VGG16-BN is torchvision's vgg16_bn with a 4-channel first convolution and
its first three max-pools removed, cut into five slices at the LPIPS taps; the tuned checkpoint
holds that network and the five linear heads. Only the module layout comes from the package
(it is an optional dependency with a CC-BY-NC licence); the weights come from the caller.
"""
from __future__ import annotations

import torch

SLICES = ((0, 7), (7, 14), (14, 24), (24, 34), (34, 44))   # the package's relu1_2 .. relu5_3 taps


def build_latent_lpips(num_latent_channels: int = 4) -> torch.nn.Module:
    """A randomly initialised ELatentLPIPS with the latent VGG16-BN trunk, frozen, eval mode."""
    import torchvision
    from elatentlpips import ELatentLPIPS

    net = ELatentLPIPS(pretrained=False, pnet_rand=True, encoder="sd15", augment=None, verbose=False)
    features = torchvision.models.vgg16_bn(weights=None).features
    features[0] = torch.nn.Conv2d(num_latent_channels, 64, kernel_size=3, padding=1)
    pools = [i for i, m in enumerate(features) if isinstance(m, torch.nn.MaxPool2d)][:3]
    for i in pools:
        features[i] = torch.nn.Identity()
    for k, (a, b) in enumerate(SLICES, start=1):
        part = torch.nn.Sequential()
        for i in range(a, b):
            part.add_module(str(i), features[i])
        setattr(net.net, f"slice{k}", part)
    return net.requires_grad_(False).eval()
