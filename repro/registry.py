"""The results registry: one self-contained JSON record per evaluated result.

Layout: `<root>/results/<row id>/<UTC timestamp>-<short uuid>.json`, root = `$REPRO_TABLES` or
`./tables`. A record is written once (validated first, then temp file + fsync + rename through
repro.io) and never edited; a new evaluation is a new file, so 64 writers never contend for a
name. Files whose name starts with '.' are writers' temp files (a writer killed mid-write leaves
one behind) and are never read.

Which record a table shows when a row has several: SELECTION_RULE. This module imports neither
torch nor pandas at module level (both are loaded inside the functions that need them).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
import subprocess
import uuid
from pathlib import Path

from repro.io import ReproError, atomic_write_json, sha256_file

SCHEMA_VERSION = 1

SELECTION_RULE = ("when a row has several records, the table shows the latest by record date "
                  "(UTC; ties broken by file name)")

# key -> required sub-keys (None: any value of the given type)
REQUIRED = {
    "schema_version": int,
    "row": str,
    "claim": {"fid", "precision", "recall"},
    "ours": dict,
    "protocol": {"metric", "impl", "mode", "reference", "reference_sha256", "num_samples", "nfe",
                 "sigmas", "gen_format", "seed", "extractor"},
    "seed": int,
    "training_key": str,
    "checkpoint": {"path", "sha256"},
    "operative_config": str,
    "switches": dict,
    "git": {"commit", "dirty"},
    "packages": dict,
    "hardware": {"device", "count"},
    "training": {"wall_s", "gpu_hours", "steps"},
    "runtime": dict,
    "date": str,
}

PACKAGES = ("torch", "torchvision", "repro", "clean-fid", "gin-config", "diffusers", "pot",
            "numpy", "scipy")

ROW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*(/[A-Za-z0-9][A-Za-z0-9_.=+-]*)*$")
# fixed width, so that string order is time order
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def tables_root(root=None) -> Path:
    return Path(root if root is not None else os.environ.get("REPRO_TABLES", "tables"))


def results_dir(root=None) -> Path:
    return tables_root(root) / "results"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- provenance

def git_state(path=None) -> dict:
    """Commit and dirty flag of the checkout holding the repro package (not of the cwd)."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        # untracked files (runs/, tables/results/) do not make the code dirty
        st = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=30)
        dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        return {"commit": commit.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions(names=PACKAGES) -> dict:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware_info() -> dict:
    try:
        import torch
    except ImportError:
        return {"device": "cpu", "count": 1}
    if torch.cuda.is_available():
        return {"device": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    return {"device": "cpu", "count": 1}


def make_record(row, ours: dict, protocol: dict, ckpt_path, training: dict, hardware=None,
                extra=None) -> dict:
    """A complete record for `row` (a repro.specs.Row).

    `protocol` comes from the evaluator; keys it lacks are filled from row.eval (the intended
    protocol), or None. `training` needs wall_s, gpu_hours, steps. `ckpt_path` None records a
    result without a checkpoint (it cannot be verified). `extra` keys are merged last.
    """
    ev = row.eval
    intended = {"metric": ev.metric, "impl": None, "mode": ev.fid_mode, "reference": ev.reference,
                "reference_sha256": None, "num_samples": ev.num_samples, "nfe": ev.nfe,
                "sigmas": list(ev.sigmas), "gen_format": ev.gen_format, "seed": ev.seed,
                "extractor": None, "precision_recall": ev.precision_recall, "ema": ev.ema}
    proto = {**intended, **dict(protocol or {})}
    if ckpt_path is not None:
        ckpt = {"path": str(ckpt_path), "sha256": sha256_file(ckpt_path)}
    else:
        ckpt = {"path": None, "sha256": None}
    record = {
        "schema_version": SCHEMA_VERSION,
        "row": row.id,
        "claim": dataclasses.asdict(row.claim),
        "ours": {k: (None if v is None else float(v)) for k, v in dict(ours).items()},
        "protocol": proto,
        "seed": int(row.train.seed),          # training seed; the sampling seed is protocol.seed
        "training_key": row.training_key,
        "checkpoint": ckpt,
        "operative_config": row.operative_config,
        "switches": {str(k): v for k, v in row.switches},
        "unconfirmed": list(row.unconfirmed),
        "git": git_state(),
        "packages": package_versions(),
        "hardware": dict(hardware) if hardware is not None else hardware_info(),
        "training": dict(training),
        "runtime": dataclasses.asdict(row.runtime),
        "date": utc_now(),
    }
    record.update(extra or {})
    return record


# ---------------------------------------------------------------- validation

def validate_record(record, source="record") -> None:
    """Raise ReproError naming `source` unless `record` follows SCHEMA_VERSION."""
    def bad(what):
        raise ReproError(f"{source}: {what}")

    if not isinstance(record, dict):
        bad(f"not a result record (a JSON object expected, got {type(record).__name__})")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        bad(f"unknown schema_version {version!r}; this repro reads {SCHEMA_VERSION}: "
            f"use the repro version that wrote it, or move the file out of the registry")
    for key, spec in REQUIRED.items():
        if key not in record:
            bad(f"missing key '{key}'")
        val = record[key]
        if isinstance(spec, set):
            if not isinstance(val, dict):
                bad(f"'{key}' must be an object with keys {sorted(spec)}")
            missing = sorted(spec - set(val))
            if missing:
                bad(f"'{key}' lacks {', '.join(missing)}")
        elif not isinstance(val, spec) or (spec is int and isinstance(val, bool)):
            bad(f"'{key}' must be {spec.__name__}, got {type(val).__name__}")
    if not ROW_ID_RE.match(record["row"]):
        bad(f"row id {record['row']!r} is not a row name (e.g. slct/t2c/cauchy)")
    if not DATE_RE.match(record["date"]):
        bad(f"date {record['date']!r} is not UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ'")
    for name, v in record["ours"].items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v)):
            bad(f"ours.{name} = {v!r}: a finite number or null expected")
    for key in ("wall_s", "gpu_hours", "steps"):
        v = record["training"][key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            bad(f"training.{key} = {v!r}: a number or null expected")


# ---------------------------------------------------------------- write / read

def record_path(record, root=None) -> Path:
    stamp = record["date"].replace("-", "").replace(":", "").replace(".", "")
    # microseconds + 40 random bits: concurrent writers of one row never pick the same name
    return results_dir(root) / record["row"] / f"{stamp}-{uuid.uuid4().hex[:10]}.json"


def write_record(record: dict, root=None) -> Path:
    """Validate, then write atomically. Returns the new file's path; never overwrites."""
    validate_record(record)
    path = record_path(record, root)
    while path.exists():   # only on a uuid collision; the name is drawn again
        path = record_path(record, root)
    atomic_write_json(path, record)
    return path


def read_record(path) -> dict:
    """One record, validated; ReproError naming the file when it is not a valid record."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise ReproError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        record = json.loads(text)
    except ValueError as e:
        raise ReproError(f"{path}: malformed JSON ({e}); a record is written once and never "
                         f"edited: restore it, or move it out of the registry") from None
    validate_record(record, source=str(path))
    return record


def record_files(root=None) -> list:
    """Record paths (str), sorted; writers' temp files ('.' names) are skipped."""
    out = []
    # os.walk and plain strings, not Path.rglob: several times faster on 10,000 files
    for d, dirs, files in os.walk(results_dir(root)):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        out += [os.path.join(d, f) for f in files if f.endswith(".json") and f[0] != "."]
    return sorted(out)


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if type(v) is dict and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _load_flat(paths, base) -> list:
    flat = []
    for path in paths:
        record = read_record(path)
        where = os.path.dirname(path)[len(base) + 1:].replace(os.sep, "/")
        if where != record["row"]:
            raise ReproError(f"{path}: holds row {record['row']!r} but lies under {where}/; "
                             f"move it to {os.path.join(base, record['row'])}/")
        f = flatten(record)
        f["path"] = path
        flat.append(f)
    return flat


def load_records(root=None):
    """All records as a pandas DataFrame: one row per record, nested keys flattened with '.'
    (ours.fid, protocol.num_samples, ...) plus 'path'. Sorted by (row, date, path).
    The first invalid record raises ReproError naming its file.
    """
    import pandas as pd

    # (a process pool was tried: on 2 cores pickling the rows back cost more than it saved)
    flat = _load_flat(record_files(root), os.path.normpath(str(results_dir(root))))
    if not flat:
        return pd.DataFrame(columns=["row", "date", "path"])
    df = pd.DataFrame.from_records(flat)
    return df.sort_values(["row", "date", "path"], kind="stable").reset_index(drop=True)


def select_shown(records_df):
    """One record per row id, by SELECTION_RULE (latest date, then last file name)."""
    if records_df is None or len(records_df) == 0:
        return records_df
    df = records_df.sort_values(["row", "date", "path"], kind="stable")
    return df.drop_duplicates("row", keep="last").reset_index(drop=True)
