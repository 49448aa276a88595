"""Spec parts for tests that need a Row but not a real recipe (records, tables, tolerances).

The fields a base file must bind (those without a dataclass default, repro/specs.py) get the
sLCT CelebA-HQ values; everything else keeps its dataclass default. A test overrides any of
them per part: `Row(id=..., claim=..., data=..., **recipe(train=dict(epochs=1400)))`.
"""
from repro.specs import CurriculumSpec, EvalSpec, LossSpec, ModelSpec, OptimSpec, TrainSpec

REQUIRED = {
    "model": (ModelSpec, dict(arch="adm", img_resolution=32, in_channels=4, out_channels=4, model_channels=128,
                              channel_mult=(1, 2, 3, 4), num_blocks=4, attn_resolutions=(16, 8), dropout=0.0)),
    "loss": (LossSpec, {}),
    "curriculum": (CurriculumSpec, dict(s1=640)),
    "optim": (OptimSpec, dict(name="radam", lr=1e-4)),
    "train": (TrainSpec, dict(batch_size=128, ema_rates=(0.99993,))),
    "eval": (EvalSpec, dict(metric="fid", reference="", ema=0.99993)),
}


def recipe(**parts) -> dict:
    """model, loss, curriculum, optim, train and eval specs; parts={'train': {'epochs': 1400}, ...}."""
    unknown = set(parts) - set(REQUIRED)
    assert not unknown, f"no such spec part: {sorted(unknown)}"
    return {name: cls(**{**base, **parts.get(name, {})}) for name, (cls, base) in REQUIRED.items()}
