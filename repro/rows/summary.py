"""The recipe summary of a row (`repro show --json`) and its estimated GPU-hours."""
from __future__ import annotations

from repro.specs import Row

# Assumed training throughput on one A100-80GB in images/s for a full CT step (student
# forward+backward and teacher forward), by (arch, resolution the network sees). These are
# planning assumptions, not measurements; `repro list` prints them with the estimate.
ASSUMED_IMG_PER_S = {
    ("adm", 32): 900.0,      # sLCT UNet on 32x32x4 latents (~150 M params)
    ("ncsnpp", 32): 1000.0,  # iCT NCSN++ on CIFAR-10 (~56 M params)
    ("adm", 64): 250.0,      # iCT ADM on ImageNet 64 (~300 M params)
}
DEFAULT_IMG_PER_S = 500.0
ASSUMPTION = ("GPU-hours = steps x batch / assumed A100 throughput (img/s: " +
              ", ".join(f"{a}@{r}px {v:.0f}" for (a, r), v in ASSUMED_IMG_PER_S.items()) +
              "); demo rows run on a CPU: 0")


def gpu_hours(row: Row) -> float:
    if row.claim.paper == "demo":
        return 0.0
    rate = ASSUMED_IMG_PER_S.get((row.model.arch, row.model.img_resolution), DEFAULT_IMG_PER_S)
    return row.total_steps * row.train.batch_size / rate / 3600.0


def params(row: Row) -> int:
    # Builds the network on torch's meta device: the one part of a summary that loads torch.
    from repro.nn import count_params

    return count_params(row.model)


def summarize(row: Row, with_params: bool = False) -> dict:
    """The row's recipe as plain JSON values; model.params is None unless `with_params`."""
    l, c, m = row.loss, row.curriculum, row.model
    if l.c_kind == "fixed":
        c_value = l.c_value
    elif l.c_kind == "ict":
        from repro.core.curricula import ict_c

        c_value = ict_c(_dim(row))
    else:
        c_value = None
    return {
        "id": row.id, "paper": row.claim.paper, "table": row.claim.table, "label": row.claim.label,
        "dataset": row.data.name, "resolution": row.data.resolution, "latent": row.data.latent,
        "nfe": row.claim.nfe, "mirrors": row.claim.mirrors or None,
        "claim": {"fid": row.claim.fid, "precision": row.claim.precision, "recall": row.claim.recall,
                  "source": row.claim.source, "confirmed": row.claim.confirmed},
        "model": {"arch": m.arch, "norm": m.norm, "last_norm": m.last_norm,
                  "params": params(row) if with_params else None, "channels": m.model_channels,
                  "channel_mult": list(m.channel_mult), "num_blocks": m.num_blocks,
                  "embedding": m.embedding},
        "objective": l.objective,
        "loss": {"name": l.distance, "reduction": l.reduction,
                 "c_kind": l.c_kind + (f" ({l.c_form})" if l.c_kind == "adaptive" else ""),
                 "c_value": c_value},
        "curriculum": {"kind": c.kind, "s0": c.s0, "s1": c.s1, "total_steps": row.total_steps},
        "noise_sampler": {"kind": l.index_sampler, "p_mean": l.p_mean if l.index_sampler == "lognormal" else None,
                          "p_std": l.p_std if l.index_sampler == "lognormal" else None},
        "weighting": l.weighting,
        "diffusion_loss": ({"r": l.diff_r, "weight": l.diff_weight, "weighting": l.diff_weighting,
                            "index_rule": l.diff_index_rule} if l.diff_r > 0 else None),
        "ot_coupling": l.coupling == "ot",
        "batch_size": row.train.batch_size, "training_steps": row.total_steps, "epochs": row.train.epochs,
        "optimizer": row.optim.name, "lr": row.optim.lr, "weight_decay": row.optim.weight_decay,
        "ema": row.eval.ema, "ema_rates": list(row.train.ema_rates), "dropout": m.dropout,
        "sampler_sigmas": list(row.eval.sigmas) if row.eval.sigmas else None,
        "eval": {"metric": row.eval.metric, "fid_mode": row.eval.fid_mode, "reference": row.eval.reference,
                 "num_samples": row.eval.num_samples, "gen_format": row.eval.gen_format,
                 "precision_recall": row.eval.precision_recall},
        "switches": dict(row.switches), "unconfirmed": list(row.unconfirmed),
        "gpu_hours_est": round(gpu_hours(row), 1),
        "training_key": row.training_key,
    }


def _dim(row: Row) -> int:
    if row.data.latent:
        return 4 * (row.data.resolution // 8) ** 2
    return row.data.channels * row.data.resolution ** 2
