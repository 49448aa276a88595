"""The record schema (SCHEMA_VERSION, REQUIRED) and its validation: every record is checked
before it is written and again when it is read, with bounds on its size so a hostile file cannot
blow up a table or memory.
"""
from __future__ import annotations

import datetime as _dt
import math
import re

from repro.io import ReproError

SCHEMA_VERSION = 1

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

ROW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*(/[A-Za-z0-9][A-Za-z0-9_.=+-]*)*$")
# fixed width, so that string order is time order
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

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
    try:
        when = _dt.datetime.strptime(record["date"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        bad(f"date {record['date']!r} is not a real date")
    if when > _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=MAX_CLOCK_SKEW_S):
        bad(f"date {record['date']} lies in the future (more than {MAX_CLOCK_SKEW_S // 60} minutes "
            f"of clock skew); a record dated ahead would be shown forever")
    _check_sizes(record, bad)
    proto = record["protocol"]
    for key in ("num_samples", "nfe", "seed"):
        v = proto[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            bad(f"protocol.{key} = {_short(v)}: a non-negative integer or null expected")
    if not isinstance(proto["sigmas"], list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in proto["sigmas"]):
        bad(f"protocol.sigmas = {_short(proto['sigmas'])}: a list of finite numbers expected")
    for key in ("metric", "impl", "mode", "reference", "reference_sha256", "gen_format", "extractor"):
        if proto[key] is not None and not isinstance(proto[key], (str, dict)):
            bad(f"protocol.{key} = {_short(proto[key])}: text or null expected")
    if not isinstance(record["git"]["commit"], (str, type(None))) or \
            not isinstance(record["git"]["dirty"], (bool, type(None))):
        bad("git: commit must be text or null and dirty true, false or null")
    for key in ("path", "sha256"):
        if not isinstance(record["checkpoint"][key], (str, type(None))):
            bad(f"checkpoint.{key} = {_short(record['checkpoint'][key])}: text or null expected")
    for name, v in record["ours"].items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v)):
            bad(f"ours.{name} = {v!r}: a finite number or null expected")
    for key in ("wall_s", "gpu_hours", "steps"):
        v = record["training"][key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            bad(f"training.{key} = {v!r}: a number or null expected")
    if "slurm" in record:        # from a SLURM evaluation job; records written elsewhere have none
        _check_slurm(record["slurm"], bad)


MAX_CLOCK_SKEW_S = 600
MAX_RECORD_BYTES = 1 << 20        # a record is a few KB; the operative config is the largest part
MAX_TEXT = 64 * 1024              # any one string in a record
MAX_ITEMS = 10_000                # entries in any one object or list


def _short(v, n: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= n else text[:n] + "…"


def _check_sizes(obj, bad, where="record", depth=0) -> None:
    """Bounds on what a record may hold, so a hostile file cannot blow up a table or memory."""
    if depth > 8:
        bad(f"{where}: nested too deeply")
    if isinstance(obj, str):
        if len(obj) > MAX_TEXT:
            bad(f"{where}: text of {len(obj)} characters (at most {MAX_TEXT})")
    elif isinstance(obj, (dict, list)):
        if len(obj) > MAX_ITEMS:
            bad(f"{where}: {len(obj)} entries (at most {MAX_ITEMS})")
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            if isinstance(k, str) and len(k) > 256:
                bad(f"{where}: a key of {len(k)} characters")
            _check_sizes(v, bad, f"{where}.{k}" if isinstance(obj, dict) else f"{where}[{k}]", depth + 1)


def _check_slurm(info, bad) -> None:
    """The optional `slurm` field: {"train": {job_ids, requeues, nodes}, "eval": {job_id, requeues, nodes}}."""
    if not isinstance(info, dict) or not set(info) <= {"train", "eval"}:
        bad("'slurm' must be an object with 'train' and/or 'eval'")
    for part, ids in (("train", "job_ids"), ("eval", "job_id")):
        sub = info.get(part)
        if sub is None:
            continue
        if not isinstance(sub, dict):
            bad(f"slurm.{part} must be an object")
        v = sub.get(ids)
        if not (isinstance(v, list) and all(isinstance(x, str) for x in v) if part == "train" else isinstance(v, str)):
            bad(f"slurm.{part}.{ids} = {v!r:.60}: {'a list of job ids' if part == 'train' else 'a job id'} expected")
        r = sub.get("requeues")
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            bad(f"slurm.{part}.requeues = {r!r:.60}: a non-negative integer expected")
        nodes = sub.get("nodes")
        if not isinstance(nodes, list) or not all(isinstance(x, str) for x in nodes):
            bad(f"slurm.{part}.nodes = {nodes!r:.60}: a list of host names expected")
