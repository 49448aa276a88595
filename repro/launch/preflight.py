"""Checks `repro submit` makes on the submitting node before anything is queued.

- `needs(row)`: the inputs a row's training and its evaluation read (prepared data, latent
  caches, assets such as Inception/VGG16/VAE weights and published reference statistics), each
  with the command that provides it; `missing_inputs(jobs)` lists the absent ones, so work bound
  to fail hours later, after its training, is refused at once.
- `final_checkpoint(run_dir, target)`: the training of a key is done;
- `current_record(row, ...)`: a row already has a record for this commit and protocol.

The compute nodes read the same REPRO_CACHE / REPRO_DATA (sbatch passes the environment on).
Nothing here imports torch: a login node answers in a second.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# The asset each clean-fid mode loads (repro/eval/fid.py INCEPTION_ASSET) and the published
# reference statistics (repro/eval/refstats.py PRECOMPUTED); tests/test_launch_preflight.py
# keeps these equal to the evaluator's own tables, which cannot be imported without torch.
INCEPTION_ASSET = {"legacy_pytorch": "inception-pytorch", "clean": "inception-torchscript",
                   "legacy_tensorflow": "inception-torchscript"}
PRECOMPUTED_ASSET = {"cifar10_train": "ref-cifar10-train", "imagenet64_adm_virtual": "ref-imagenet64-adm"}
TOY_DATA = ("digits", "synthetic")
_CKPT = re.compile(r"^step-(\d{7,})\.pt$")


@dataclass(frozen=True)
class Need:
    what: str          # e.g. "asset inception-pytorch", "prepared dataset cifar10"
    path: str          # the file whose presence is checked
    fix: str           # the command that provides it


def _asset(name: str) -> Need:
    from repro.data.assets import asset_path
    from repro.data.paths import cache_root

    return Need(f"asset {name}", str(asset_path(name)), f"REPRO_CACHE={cache_root()} repro fetch --only {name}")


def _prepared(name: str) -> Need:
    from repro.data.paths import data_root, dataset_dir

    return Need(f"prepared dataset {name}", str(dataset_dir(name) / "manifest.json"),
                f"REPRO_DATA={data_root()} repro data prepare {name} --src PATH")


def _latents(name: str) -> Need:
    from repro.data.paths import data_root, dataset_dir

    return Need(f"latent cache of {name}", str(dataset_dir(name) / "latents" / "manifest.json"),
                f"REPRO_DATA={data_root()} repro data encode {name}")


def _data_needs(row, decode: bool) -> list:
    """What opening the row's training set reads (evaluation opens it too), and with `decode`
    what turning samples into pixels reads (the SD-VAE of latent rows)."""
    d = row.data
    out = []
    if d.latent:
        if decode:
            out += [_asset("vae-config"), _asset("vae-weights")]
        if d.name not in TOY_DATA:
            out.append(_latents(d.name))
    elif d.name not in TOY_DATA:
        out.append(_prepared(d.name))
    return out


def _metric_needs(row, precision_recall: bool = True) -> list:
    ev = row.eval
    out = []
    if ev.metric == "fid":
        if ev.fid_mode in INCEPTION_ASSET:
            out.append(_asset(INCEPTION_ASSET[ev.fid_mode]))
        out.append(_asset(PRECOMPUTED_ASSET[ev.reference]) if ev.reference in PRECOMPUTED_ASSET
                   else _prepared(ev.reference))
    if precision_recall and ev.precision_recall == "vgg16_k3":
        # mirrored reference features: computed from the prepared real images, never published
        out += [_asset("vgg16"), _prepared(ev.reference)]
    elif precision_recall and ev.precision_recall == "inception_k3" and ev.metric != "fid":
        out.append(_asset(INCEPTION_ASSET.get(ev.fid_mode, "inception-torchscript")))
    return out


def needs(row) -> dict:
    """{'train': [Need], 'eval': [Need]} for one row (no duplicates within a list)."""
    train = _data_needs(row, decode=bool(row.runtime.eval_every))   # the in-training metric decodes
    if row.loss.distance == "e_latent_lpips":
        train.append(_asset("elatentlpips-sd15"))
        if importlib.util.find_spec("elatentlpips") is None:
            train.append(Need("package elatentlpips", "(python package)", "pip install -e '.[elpips]'"))
    if row.runtime.eval_every:
        train += _metric_needs(row, precision_recall=False)   # the in-training metric
    evaluation = _data_needs(row, decode=True) + _metric_needs(row)
    return {"train": list(dict.fromkeys(train)), "eval": list(dict.fromkeys(evaluation))}


def _present(need: Need) -> bool:
    if need.what.startswith("package "):
        return importlib.util.find_spec(need.what.split()[1]) is not None
    return Path(need.path).is_file()


def missing_inputs(jobs) -> list:
    """[(Need, [job descriptions])] of absent inputs, for planned jobs carrying their Row objects
    in `extra['row_objs']` (jobs without them are not checked)."""
    found: dict = {}
    for job in jobs:
        rows = job.extra.get("row_objs") or []
        if job.kind == "train":
            items = [(n, f"training of key {job.training_key}") for n in (needs(rows[0])["train"] if rows else [])]
        else:
            items = [(n, f"evaluation of {r.id}") for r in rows for n in needs(r)["eval"]]
        for need, who in items:
            if not _present(need):
                found.setdefault(need, []).append(who)
    return list(found.items())


def describe(missing) -> str:
    """One line: every missing input, who needs it, and the command that provides it."""
    parts = []
    for need, who in missing:
        users = ", ".join(who[:3]) + (f" and {len(who) - 3} more" if len(who) > 3 else "")
        parts.append(f"{need.what} ({need.path}; for the {users}): run `{need.fix}`")
    return (f"nothing queued: {len(missing)} input(s) the jobs need are missing on this node: "
            + "; ".join(parts))


# ---------------------------------------------------------------------------------------------
# Done already?


def target_steps(row, max_steps: Optional[int] = None) -> int:
    return min(row.total_steps, max_steps) if max_steps else row.total_steps


def final_checkpoint(run_dir, target: int) -> Optional[Path]:
    """The newest checkpoint at or past `target` steps (with its hash file), else None. Named
    only: a multi-GB checkpoint is not hashed on a login node; training and evaluation check it."""
    d = Path(run_dir) / "ckpt"
    if not d.is_dir():
        return None
    best = None
    for p in d.iterdir():
        m = _CKPT.match(p.name)
        if m and int(m.group(1)) >= target and Path(str(p) + ".sha256").is_file():
            if best is None or int(m.group(1)) > int(_CKPT.match(best.name).group(1)):
                best = p
    return best


def records_of(row, run_dir, tables=None):
    """(path, record) of the row's readable records: a smoke row's beside its run, else the registry's."""
    from repro.io import ReproError
    from repro.results.evaluate import eval_dir_for
    from repro.results.records import read_record, results_dir

    if row.smoke:
        paths = [eval_dir_for(row, run_dir) / "record.json"]
    else:
        d = results_dir(tables) / row.id
        paths = sorted(d.glob("[!.]*.json")) if d.is_dir() else []
    for p in paths:
        if p.is_file():
            try:
                yield p, read_record(p)
            except ReproError:
                continue


def _reference_name(ref):
    return ref.get("name") if isinstance(ref, dict) else ref


def current_record(row, run_dir, target: int, commit: Optional[str], num: Optional[int] = None,
                   tables=None) -> Optional[Path]:
    """A record of `row` for this code commit and this protocol, from a training of `target`
    steps of the row's key; None when there is none (or the commit is unknown)."""
    if not commit:
        return None
    ev = row.eval
    want = {"metric": ev.metric, "nfe": ev.nfe, "seed": ev.seed,
            "num_samples": num or ev.num_samples, "gen_format": ev.gen_format}
    if ev.metric == "fid":
        want["mode"] = ev.fid_mode
    for path, rec in records_of(row, run_dir, tables):
        proto = rec.get("protocol") or {}
        if (rec.get("training_key") == row.training_key
                and (rec.get("training") or {}).get("steps") == target
                and (rec.get("git") or {}).get("commit") == commit
                and bool((rec.get("row_args") or {}).get("smoke")) == bool(row.smoke)
                and all(proto.get(k) == v for k, v in want.items())
                and _reference_name(proto.get("reference")) == ev.reference):
            return path
    return None
