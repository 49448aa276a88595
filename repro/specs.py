"""The recipe of a row as plain frozen dataclasses.

Gin builds these (see repro/configurables.py); everything downstream — training, evaluation,
the registry — reads only these objects, never gin. The training key hashes exactly the specs
that change training (`TRAINING_SPECS`), so rows that differ only in evaluation train once.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Optional

from repro.io import canonical_json


@dataclass(frozen=True)
class Claim:
    """What the paper printed for this row."""
    paper: str                       # 'iCT' | 'sLCT' | 'demo'
    table: str                       # 'cifar10' | 'imagenet64' | '1' | '2a' ... | 'demo'
    label: str                       # row label as printed
    nfe: int
    fid: Optional[float] = None
    precision: Optional[float] = None
    recall: Optional[float] = None
    source: str = ""                 # where it is printed, e.g. 'sLCT Table 2c'
    confirmed: bool = True           # False where no paper text confirms the number
    notes: str = ""


@dataclass(frozen=True)
class DataSpec:
    name: str                        # 'digits' | 'synthetic' | 'cifar10' | 'imagenet64' | 'celebahq256' | 'ffhq256' | 'lsun_church256'
    resolution: int                  # pixel resolution of the prepared images
    channels: int = 3
    train_size: int = 0              # images per epoch, as the paper's code counts them (used for K)
    latent: bool = False             # train on SD-VAE latents (32x32x4) instead of pixels
    latent_norm: bool = True         # per-element (x/0.18215 - mean)/std * 0.5  (LCT code)
    num_classes: int = 0
    hflip: bool = False              # random horizontal flip at train time
    limit: Optional[int] = None      # use only the first `limit` images (smoke runs)


@dataclass(frozen=True)
class ModelSpec:
    arch: str = "adm"                # 'adm' (EDM's DhariwalUNet port of ADM) | 'ncsnpp' (EDM's SongUNet)
    img_resolution: int = 32
    in_channels: int = 4
    out_channels: int = 4
    label_dim: int = 0
    model_channels: int = 128
    channel_mult: tuple = (1, 2, 3, 4)
    channel_mult_emb: int = 4
    num_blocks: int = 4
    attn_resolutions: tuple = (16, 8)
    channels_per_head: int = 64
    dropout: float = 0.0
    norm: str = "gn"                 # block norms: 'gn' | 'in' | 'ln' | 'rms' | 'ns_layernorm'
    last_norm: str = "gn"            # output norm, same keys
    embedding: str = "positional"    # 'positional' | 'fourier'
    fourier_scale: float = 16.0      # iCT uses 0.02 (iCT §3.1)
    resblock_updown: bool = True


@dataclass(frozen=True)
class LossSpec:
    objective: str = "ct"            # 'ct' (consistency training) | 'diffusion' (LDM-8† baseline)
    distance: str = "cauchy"         # 'l2' | 'pseudo_huber' | 'huber' | 'cauchy' | 'geman_mcclure' | 'e_latent_lpips'
    reduction: str = "mean"          # switch loss_reduction: 'sum' (paper) | 'mean' (LCT code)
    c_kind: str = "adaptive"         # 'none' | 'fixed' | 'ict' (0.00054*sqrt(D)) | 'adaptive'
    c_value: Optional[float] = None  # for c_kind='fixed'
    c_form: str = "code"             # switch adaptive_c.coeffs: 'paper' | 'code'
    weighting: str = "ict"           # 'ict' (1/(s_{i+1}-s_i)) | 'uniform' | 'edm'
    index_sampler: str = "lognormal" # 'lognormal' | 'uniform'
    p_mean: float = -1.1
    p_std: float = 2.0
    diff_r: float = 0.0              # small-sigma diffusion term on the lowest r of levels; 0 = off
    diff_weight: float = 5.0         # switch diff_term.weight (code: 5)
    diff_weighting: str = "edm"      # 'edm' (code: 1/s^2 + 1/s_d^2) | 'none' (paper)
    diff_index_rule: str = "code"    # switch diff_term.index_rule: 'paper' | 'code'
    coupling: str = "none"           # 'none' | 'ot'
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    sigma_data: float = 0.5
    dropout_rng_sync: bool = True
    num_scales: int = 1000           # diffusion objective only: grid size for the uniform index


@dataclass(frozen=True)
class CurriculumSpec:
    kind: str = "ict_exp"            # 'ict_exp' (iCT eq. / sLCT eq.10) | 'fixed'
    s0: int = 10
    s1: int = 640


@dataclass(frozen=True)
class OptimSpec:
    name: str = "radam"              # 'radam' | 'adam'
    lr: float = 1e-4
    weight_decay: float = 0.0        # torch's coupled L2 form, as in the LCT code
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class TrainSpec:
    batch_size: int = 128            # global batch
    epochs: Optional[int] = None     # K = (train_size // batch_size) * epochs when set
    total_steps: Optional[int] = None  # K directly (iCT rows)
    ema_rates: tuple = (0.99993,)
    seed: int = 0


@dataclass(frozen=True)
class EvalSpec:
    nfe: int = 1
    sigmas: tuple = (80.0,)          # sampler sigmas, first = sigma_max; 2-step adds the middle one
    ema: float = 0.99993             # which EMA copy is evaluated
    num_samples: int = 50000
    batch_size: int = 256
    metric: str = "fid"              # 'fid' (clean-fid) | 'w2_pixels' | 'fd_pixels' (demo)
    fid_mode: str = "legacy_pytorch" # clean-fid mode
    reference: str = ""              # name of the reference statistics
    gen_format: str = "png"          # 'png' | 'jpg' (sLCT code saves JPEG before pytorch-fid)
    precision_recall: str = "none"   # 'none' | 'vgg16_k3' (sLCT) | 'inception_k3' (ADM evaluator)
    seed: int = 42


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run, not what: excluded from the training key, recorded with every result."""
    bf16: bool = True                # autocast on CUDA
    channels_last: bool = True
    tf32: bool = True
    compile: bool = False
    fused_optim: bool = True
    log_every: int = 100
    ckpt_every: int = 5000
    keep_ckpts: int = 2              # older step checkpoints are pruned
    micro_batch: Optional[int] = None  # per-process micro-batch; gradient accumulation fills the rest
    device: str = "auto"


TRAINING_SPECS = ("data", "model", "loss", "curriculum", "optim", "train")


@dataclass(frozen=True)
class Row:
    id: str
    claim: Claim
    data: DataSpec
    model: ModelSpec
    loss: LossSpec
    curriculum: CurriculumSpec
    optim: OptimSpec
    train: TrainSpec
    eval: EvalSpec
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    operative_config: str = ""
    switches: tuple = ()             # ((name, value), ...) paper-vs-code switches in force
    unconfirmed: tuple = ()          # settings this row uses that no paper/code text confirms
    overrides: tuple = ()            # extra gin bindings applied after the row file (--set)
    smoke: bool = False              # built with gin/smoke.gin

    def training_spec(self) -> dict:
        return {k: dataclasses.asdict(getattr(self, k)) for k in TRAINING_SPECS}

    @property
    def training_key(self) -> str:
        return hashlib.sha256(canonical_json(self.training_spec()).encode()).hexdigest()[:12]

    @property
    def total_steps(self) -> int:
        if self.train.total_steps is not None:
            return int(self.train.total_steps)
        if self.train.epochs is None or self.data.train_size <= 0:
            raise ValueError(f"{self.id}: set TrainSpec.total_steps, or TrainSpec.epochs with DataSpec.train_size")
        return (self.data.train_size // self.train.batch_size) * self.train.epochs

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["training_key"] = self.training_key
        return d
