"""The recipe of a row as plain frozen dataclasses.

Gin builds these (see repro/rows/configurables.py); everything downstream — training, evaluation,
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
    # Where the row sits in its table (the file follows from paper + table, repro/results/tables.py):
    section: str = ""                # heading of its section of the table ('' = none)
    group: str = ""                  # the paper's method group, the table's first column
    order: int = 0                   # rows sort by it within their file; sections follow their rows
    mirrors: str = ""                # toy rows (gin/toy/): the paper row whose recipe they shrink


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
    # The network's size: each paper chooses it, so every base file binds it.
    arch: str                        # 'adm' (EDM's DhariwalUNet port of ADM) | 'ncsnpp' (EDM's SongUNet)
    img_resolution: int
    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple
    num_blocks: int
    attn_resolutions: tuple
    dropout: float
    # EDM's networks as EDM builds them, unless a row changes them.
    label_dim: int = 0               # 0 = unconditional
    channel_mult_emb: int = 4
    channels_per_head: int = 64
    norm: str = "gn"                 # block norms: 'gn' | 'in' | 'ln' | 'rms' | 'ns_layernorm'
    last_norm: str = "gn"            # output norm, same keys
    embedding: str = "positional"    # 'positional' | 'fourier'
    fourier_scale: float = 16.0      # iCT uses 0.02 (iCT §3.1)
    resblock_updown: bool = True     # read by neither network (both resample inside residual blocks)


@dataclass(frozen=True)
class LossSpec:
    """Every field has a default, because the core runs without gin too: ConsistencyLoss and
    DiffusionLoss take their keyword defaults from here. They are the Karras VE grid and CM
    parameterisation of both papers (sLCT §3; LCT and CM code), iCT's lognormal index sampler
    and λ (iCT §3.1, §3.5), sLCT's Cauchy distance with adaptive c, the LCT code's side of each
    paper-vs-code switch (docs/FIDELITY.md), and sLCT's diffusion term and OT coupling off."""
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
    s1: int                          # final N - 1: iCT 1280 (iCT §3.4), sLCT 640 (sLCT eq. 10)
    kind: str = "ict_exp"            # 'ict_exp' (iCT eq. 5 / sLCT eq. 10) | 'fixed'
    s0: int = 10


@dataclass(frozen=True)
class OptimSpec:
    name: str                        # 'radam' | 'adam'
    lr: float
    weight_decay: float = 0.0        # torch's coupled L2 form, as in the LCT code
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class TrainSpec:
    batch_size: int                  # global batch
    ema_rates: tuple                 # EMA copies kept; EvalSpec.ema picks the one evaluated
    epochs: Optional[int] = None     # K = (train_size // batch_size) * epochs when set
    total_steps: Optional[int] = None  # K directly (iCT rows)
    seed: int = 0


@dataclass(frozen=True)
class EvalSpec:
    # What is scored against what: each paper's protocol, bound by every base file.
    metric: str                      # 'fid' (clean-fid) | 'w2_pixels' | 'fd_pixels' (demo)
    reference: str                   # name of the reference statistics
    ema: float                       # which EMA copy is evaluated (one of TrainSpec.ema_rates)
    nfe: int = 1
    sigmas: tuple = (80.0,)          # sampler sigmas, first = sigma_max; 2-step adds the middle one
    num_samples: int = 50000
    batch_size: int = 256
    fid_mode: str = "legacy_pytorch" # clean-fid mode
    gen_format: str = "png"          # 'png' | 'jpg' (sLCT code saves JPEG before pytorch-fid)
    precision_recall: str = "none"   # 'none' | 'vgg16_k3' (sLCT) | 'inception_k3' (ADM evaluator)
    seed: int = 42
    vae_dtype: str = "fp32"          # latent rows: the decoding VAE's dtype ('fp32' as the LCT code)


@dataclass(frozen=True)
class RuntimeSpec:
    """How to run, not what: excluded from the training key, recorded with every result."""
    bf16: bool = False               # bf16 autocast on CUDA; off: the LCT code trains fp32 (+ TF32)
    channels_last: bool = True
    tf32: bool = True
    compile: bool = False
    fused_optim: bool = True
    log_every: int = 100
    ckpt_every: int = 5000
    keep_ckpts: int = 2              # older step checkpoints are pruned
    micro_batch: Optional[int] = None  # per-process micro-batch; gradient accumulation fills the rest
    device: str = "auto"
    # In-training metric: every `eval_every` steps (0 = off) the launcher scores the EMA weights
    # with the row's own metric and protocol on `eval_num` samples (metrics.jsonl, `repro report`).
    eval_every: int = 0
    eval_num: int = 1000


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


# ------------------------------------------------------------------ validation
# Checked when a row loads (repro show, submit --dry-run, train alike), before any work. The name
# lists are kept here, torch-free, so `repro show` can check them without importing the
# components; tests/test_specs_validate.py checks they equal the components' registries.
CHOICES = {
    "DataSpec.name": ("digits", "synthetic", "cifar10", "imagenet64", "celebahq256", "ffhq256",
                      "lsun_church256"),
    "ModelSpec.arch": ("adm", "ncsnpp"),
    "ModelSpec.norm": ("gn", "in", "ln", "rms", "ns_layernorm"),
    "ModelSpec.last_norm": ("gn", "in", "ln", "rms", "ns_layernorm"),
    "ModelSpec.embedding": ("positional", "fourier"),
    "LossSpec.objective": ("ct", "diffusion"),
    "LossSpec.distance": ("l2", "pseudo_huber", "huber", "cauchy", "geman_mcclure", "e_latent_lpips"),
    "LossSpec.reduction": ("sum", "mean"),
    "LossSpec.c_kind": ("none", "fixed", "ict", "adaptive"),
    "LossSpec.c_form": ("paper", "code"),
    "LossSpec.weighting": ("ict", "uniform", "edm"),
    "LossSpec.index_sampler": ("lognormal", "uniform"),
    "LossSpec.diff_weighting": ("edm", "none"),
    "LossSpec.diff_index_rule": ("paper", "code"),
    "LossSpec.coupling": ("none", "ot"),
    "CurriculumSpec.kind": ("ict_exp", "fixed"),
    "OptimSpec.name": ("radam", "adam"),
    "EvalSpec.metric": ("fid", "w2_pixels", "fd_pixels"),
    "EvalSpec.fid_mode": ("clean", "legacy_pytorch", "legacy_tensorflow", "native"),
    "EvalSpec.gen_format": ("png", "jpg"),
    "EvalSpec.precision_recall": ("none", "vgg16_k3", "inception_k3"),
    "EvalSpec.vae_dtype": ("fp32", "bf16", "fp16"),
}

_POS, _NONNEG, _UNIT = (lambda v: v > 0, "> 0"), (lambda v: v >= 0, ">= 0"), (lambda v: 0 <= v <= 1, "in [0, 1]")
# field -> (check, what it must be); applied to the value, or to each element of a tuple
RANGES = {
    "Claim.nfe": _POS, "Claim.fid": _NONNEG, "Claim.precision": _UNIT, "Claim.recall": _UNIT,
    "DataSpec.resolution": _POS, "DataSpec.channels": _POS, "DataSpec.train_size": _NONNEG,
    "DataSpec.num_classes": _NONNEG, "DataSpec.limit": _POS,
    "ModelSpec.img_resolution": _POS, "ModelSpec.in_channels": _POS, "ModelSpec.out_channels": _POS,
    "ModelSpec.label_dim": _NONNEG, "ModelSpec.model_channels": _POS, "ModelSpec.channel_mult": _POS,
    "ModelSpec.channel_mult_emb": _POS, "ModelSpec.num_blocks": _POS, "ModelSpec.attn_resolutions": _POS,
    "ModelSpec.channels_per_head": _POS, "ModelSpec.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "ModelSpec.fourier_scale": _POS,
    "LossSpec.c_value": _POS, "LossSpec.p_std": _POS, "LossSpec.diff_r": _UNIT,
    "LossSpec.diff_weight": _NONNEG, "LossSpec.sigma_min": _POS, "LossSpec.sigma_max": _POS,
    "LossSpec.rho": _POS, "LossSpec.sigma_data": _POS, "LossSpec.num_scales": (lambda v: v >= 2, ">= 2"),
    "CurriculumSpec.s0": (lambda v: v >= 2, ">= 2"), "CurriculumSpec.s1": (lambda v: v >= 2, ">= 2"),
    "OptimSpec.lr": _POS, "OptimSpec.weight_decay": _NONNEG,
    "OptimSpec.betas": (lambda v: 0 <= v < 1, "in [0, 1)"), "OptimSpec.eps": _POS,
    "TrainSpec.batch_size": _POS, "TrainSpec.epochs": _POS, "TrainSpec.total_steps": _POS,
    "TrainSpec.ema_rates": (lambda v: 0 < v < 1, "in (0, 1)"), "TrainSpec.seed": _NONNEG,
    "EvalSpec.nfe": _POS, "EvalSpec.sigmas": _POS, "EvalSpec.ema": (lambda v: 0 < v < 1, "in (0, 1)"),
    "EvalSpec.num_samples": _POS, "EvalSpec.batch_size": _POS, "EvalSpec.seed": _NONNEG,
    "RuntimeSpec.log_every": _POS, "RuntimeSpec.ckpt_every": _POS, "RuntimeSpec.keep_ckpts": _POS,
    "RuntimeSpec.micro_batch": _POS, "RuntimeSpec.eval_every": _NONNEG, "RuntimeSpec.eval_num": _POS,
}
_LENGTHS = {"OptimSpec.betas": 2}
_NONEMPTY = ("ModelSpec.channel_mult", "TrainSpec.ema_rates")   # EvalSpec.sigmas: see Claim.nfe
_BASE_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "tuple": (tuple, list)}


def _type_ok(value, annotation: str) -> bool:
    import math

    optional = annotation.startswith("Optional[")
    base = annotation[len("Optional["):-1] if optional else annotation
    if value is None:
        return optional
    if base in ("int", "float") and isinstance(value, bool):
        return False
    if base == "float" and isinstance(value, (int, float)) and not math.isfinite(value):
        return False
    return isinstance(value, _BASE_TYPES.get(base, (object,)))


def field_problems(spec) -> list[tuple[str, str]]:
    """[(binding, what is wrong)] for one spec dataclass: types, ranges, choices."""
    import math

    out = []
    cls = type(spec).__name__
    for f in dataclasses.fields(spec):
        name, v = f"{cls}.{f.name}", getattr(spec, f.name)
        if not _type_ok(v, str(f.type)):
            want = str(f.type).replace("Optional[", "").rstrip("]") + (" or None" if "Optional" in str(f.type) else "")
            out.append((name, f"{v!r} is not {'an' if want[0] in 'aeiou' else 'a'} {want}" + (" (not finite)" if isinstance(v, float) else "")))
            continue
        if name in CHOICES and v not in CHOICES[name]:
            out.append((name, f"{v!r} is not one of {', '.join(map(repr, CHOICES[name]))}"))
        if v is None or name not in RANGES:
            continue
        check, what = RANGES[name]
        items = list(v) if isinstance(v, (tuple, list)) else [v]
        if name in _NONEMPTY and not items:
            out.append((name, "must not be empty"))
        if name in _LENGTHS and len(items) != _LENGTHS[name]:
            out.append((name, f"{v!r} must have {_LENGTHS[name]} values"))
        for x in items:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not check(x):
                out.append((name, f"{v!r}: {'each value ' if len(items) > 1 or isinstance(v, tuple) else ''}"
                                  f"must be a number {what}"))
                break
    return out


def row_problems(row: "Row") -> list[tuple[str, str]]:
    """Field checks for every spec of the row, then the checks that relate fields."""
    out = []
    for part in ("claim", "data", "model", "loss", "curriculum", "optim", "train", "eval", "runtime"):
        out += field_problems(getattr(row, part))
    if out:
        return out
    l, t, e, d, m = row.loss, row.train, row.eval, row.data, row.model
    if l.sigma_max <= l.sigma_min:
        out.append(("LossSpec.sigma_max", f"{l.sigma_max} must exceed LossSpec.sigma_min={l.sigma_min}"))
    if row.curriculum.s1 < row.curriculum.s0:
        out.append(("CurriculumSpec.s1", f"{row.curriculum.s1} must be >= CurriculumSpec.s0={row.curriculum.s0}"))
    if l.c_kind == "fixed" and l.c_value is None:
        out.append(("LossSpec.c_value", "c_kind='fixed' needs a value"))
    if not any(abs(r - e.ema) < 1e-12 for r in t.ema_rates):
        out.append(("EvalSpec.ema", f"{e.ema} is not one of TrainSpec.ema_rates {tuple(t.ema_rates)}"))
    if t.total_steps is None and (t.epochs is None or d.train_size <= 0):
        out.append(("TrainSpec.total_steps", "not set; set it, or TrainSpec.epochs with DataSpec.train_size"))
    elif t.total_steps is None and d.train_size // t.batch_size == 0:
        out.append(("TrainSpec.batch_size", f"{t.batch_size} exceeds DataSpec.train_size={d.train_size}, "
                                            f"so an epoch has no step"))
    if row.runtime.micro_batch is not None and t.batch_size % row.runtime.micro_batch:
        out.append(("RuntimeSpec.micro_batch", f"{row.runtime.micro_batch} does not divide "
                                               f"TrainSpec.batch_size={t.batch_size}"))
    if d.name != "synthetic" and m.label_dim and d.num_classes and m.label_dim != d.num_classes:
        out.append(("ModelSpec.label_dim", f"{m.label_dim} differs from DataSpec.num_classes={d.num_classes}"))
    return out
