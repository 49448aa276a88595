"""The papers' printed numbers, typed by hand from the papers (not from gin/), with citations.

sLCT = Dao et al. 2025, arXiv 2502.01441v2:
  Table 1 (a) CelebA-HQ, (b) LSUN Church, (c) FFHQ — "Our performance on CelebA-HQ, LSUN Church,
  FFHQ datasets at resolution 256x256"; Table 2 (a)-(d) — "Ablation Studies on CelebA-HQ
  256x256 dataset at epoch 1400".
iCT = Song & Dhariwal 2023 (the authors' poster, "Results on ImageNet 64x64"; CIFAR-10
  iCT-deep 2.51 / 2.24 from the abstract; CIFAR-10 iCT 2.83 / 2.46 are UNCONFIRMED, see docs/FIDELITY.md).
Format: row id -> (fid, precision, recall).
"""

CLAIMS = {
    # iCT, ImageNet 64 (poster table, rows "iCT (ours)" and "iCT-deep (ours)")
    "ict/imagenet64/ict/nfe1": (4.02, 0.70, 0.63),
    "ict/imagenet64/ict/nfe2": (3.20, 0.73, 0.63),
    "ict/imagenet64/ict-deep/nfe1": (3.25, 0.72, 0.63),
    "ict/imagenet64/ict-deep/nfe2": (2.77, 0.74, 0.62),
    # iCT, CIFAR-10 (abstract: iCT-deep 1-step 2.51; 2-step 2.24)
    "ict/cifar10/ict-deep/nfe1": (2.51, None, None),
    "ict/cifar10/ict-deep/nfe2": (2.24, None, None),
    "ict/cifar10/ict/nfe1": (2.83, None, None),   # UNCONFIRMED
    "ict/cifar10/ict/nfe2": (2.46, None, None),   # UNCONFIRMED
    # sLCT Table 1(a) CelebA-HQ
    "slct/t1/celebahq/ldm8dagger": (8.85, None, None),
    "slct/t1/celebahq/ilct/nfe1": (37.15, None, 0.12),
    "slct/t1/celebahq/ilct/nfe2": (16.84, None, 0.24),
    "slct/t1/celebahq/ours/nfe1": (7.27, None, 0.50),
    "slct/t1/celebahq/ours/nfe2": (6.93, None, 0.52),
    # sLCT Table 1(b) LSUN Church
    "slct/t1/lsun/ldm8dagger": (10.81, None, None),
    "slct/t1/lsun/ilct/nfe1": (52.45, None, 0.11),
    "slct/t1/lsun/ilct/nfe2": (24.67, None, 0.17),
    "slct/t1/lsun/ours/nfe1": (8.87, None, 0.47),
    "slct/t1/lsun/ours/nfe2": (7.71, None, 0.48),
    # sLCT Table 1(c) FFHQ
    "slct/t1/ffhq/ldm8dagger": (10.23, None, None),
    "slct/t1/ffhq/ilct/nfe1": (48.82, None, 0.15),
    "slct/t1/ffhq/ilct/nfe2": (21.15, None, 0.19),
    "slct/t1/ffhq/ours/nfe1": (8.72, None, 0.42),
    "slct/t1/ffhq/ours/nfe2": (8.29, None, 0.43),
    # sLCT Table 2(a) Components
    "slct/t2a/ilct": (37.15, None, 0.12),
    "slct/t2a/cauchy": (13.02, None, 0.36),
    "slct/t2a/plus_diff": (9.11, None, 0.41),
    "slct/t2a/plus_ot": (8.89, None, 0.42),
    "slct/t2a/plus_scaled_c": (7.76, None, 0.47),
    "slct/t2a/plus_nsln": (7.27, None, 0.50),
    # sLCT Table 2(b) Threshold r
    "slct/t2b/r1.0": (7.47, None, 0.49),
    "slct/t2b/r0.6": (7.33, None, 0.49),
    "slct/t2b/r0.25": (7.27, None, 0.50),
    # sLCT Table 2(c) Robust losses
    "slct/t2c/l2": (50.40, None, 0.04),
    "slct/t2c/e_latentlpips": (11.49, None, 0.47),
    "slct/t2c/huber": (9.97, None, 0.44),
    "slct/t2c/geman_mcclure": (11.28, None, 0.44),
    "slct/t2c/cauchy": (7.27, None, 0.50),
    # sLCT Table 2(d) Norm layer
    "slct/t2d/gn": (7.76, None, 0.47),
    "slct/t2d/in": (8.47, None, 0.43),
    "slct/t2d/ln": (9.05, None, 0.46),
    "slct/t2d/rms": (8.96, None, 0.46),
    "slct/t2d/nsln": (7.27, None, 0.50),
}

# Rows that must train once together (equal training bindings; the '=' rows of sLCT Table 2).
SHARED = [
    ["slct/t1/celebahq/ours/nfe1", "slct/t1/celebahq/ours/nfe2", "slct/t2a/plus_nsln", "slct/t2b/r0.25",
     "slct/t2c/cauchy", "slct/t2d/nsln"],
    ["slct/t1/celebahq/ilct/nfe1", "slct/t1/celebahq/ilct/nfe2", "slct/t2a/ilct"],
    ["slct/t2a/plus_scaled_c", "slct/t2d/gn"],
    ["slct/t1/lsun/ours/nfe1", "slct/t1/lsun/ours/nfe2"],
    ["slct/t1/lsun/ilct/nfe1", "slct/t1/lsun/ilct/nfe2"],
    ["slct/t1/ffhq/ours/nfe1", "slct/t1/ffhq/ours/nfe2"],
    ["slct/t1/ffhq/ilct/nfe1", "slct/t1/ffhq/ilct/nfe2"],
    ["ict/cifar10/ict/nfe1", "ict/cifar10/ict/nfe2"],
    ["ict/cifar10/ict-deep/nfe1", "ict/cifar10/ict-deep/nfe2"],
    ["ict/imagenet64/ict/nfe1", "ict/imagenet64/ict/nfe2"],
    ["ict/imagenet64/ict-deep/nfe1", "ict/imagenet64/ict-deep/nfe2"],
    ["demo/digits/nfe1", "demo/digits/nfe2"],
]
