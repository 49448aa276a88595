"""The results registry: one self-contained JSON record per evaluated result.

Layout: `<root>/results/<row id>/<UTC timestamp>-<short uuid>.json`, root as
`repro.paths.tables_root` resolves it. A record is written once (validated first, then temp file +
fsync + rename through repro.io) and never edited; a new evaluation is a new file, so 64 writers
never contend for a name. Files whose name starts with '.' are writers' temp files (a writer
killed mid-write leaves one behind) and are never read.

Here: making a record, writing it, reading one or all of them back. The schema and its
validation are in schema.py, the provenance a record carries in provenance.py, which records
the tables show in selection.py (SELECTION_RULE). Smoke records never enter the registry
(`write_record` refuses them; `repro run --smoke` keeps them beside the run). This module
imports neither torch nor pandas at module level (both are loaded inside the functions that
need them).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import uuid
from pathlib import Path

from repro.io import ReproError, atomic_write_json, sha256_file
from repro.paths import tables_root
from repro.results import provenance
from repro.results.schema import MAX_RECORD_BYTES, SCHEMA_VERSION, validate_record
from repro.results.selection import is_smoke
# read from here by repro/results/tables.py, toy_table.py and benchmarks/tables_render.py
from repro.results.provenance import package_versions  # noqa: F401
from repro.results.selection import SELECTION_RULE, provenance_problems, select_shown  # noqa: F401


def results_dir(root=None) -> Path:
    return tables_root(root) / "results"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        base = os.environ.get("REPRO_CKPT_URL", "").strip()
        if base:      # where published checkpoints live, by hash, as a model zoo serves them
            ckpt["url"] = f"{base.rstrip('/')}/{ckpt['sha256']}.pt"
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
        # through the module: a test's stand-in for provenance.git_state reaches every record
        "git": provenance.git_state(),
        "packages": provenance.package_versions(),
        "hardware": dict(hardware) if hardware is not None else provenance.hardware_info(),
        "training": dict(training),
        "runtime": dataclasses.asdict(row.runtime),
        "date": utc_now(),
    }
    record.update(extra or {})
    return record


# ---------------------------------------------------------------- write / read

def record_path(record, root=None) -> Path:
    stamp = record["date"].replace("-", "").replace(":", "").replace(".", "")
    # microseconds + 40 random bits: concurrent writers of one row never pick the same name
    return results_dir(root) / record["row"] / f"{stamp}-{uuid.uuid4().hex[:10]}.json"


def write_record(record: dict, root=None) -> Path:
    """Validate, then write atomically. Returns the new file's path; never overwrites.
    A smoke record is refused: it belongs beside its run, never in the registry."""
    validate_record(record)
    if is_smoke(record):
        raise ReproError(f"record of {record['row']}: a smoke run (row_args.smoke true); smoke "
                         f"records never enter the registry: write it beside its run instead")
    path = record_path(record, root)
    while path.exists():   # only on a uuid collision; the name is drawn again
        path = record_path(record, root)
    atomic_write_json(path, record)
    return path


def read_record(path) -> dict:
    """One record, validated; ReproError naming the file when it is not a valid record."""
    import stat

    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = Path(path).resolve()
            if not _inside_registry(target, path):
                raise ReproError(f"{path}: a symlink leaving the registry (to {target}); records "
                                 f"must be files inside it: copy the record in, or remove the link")
            st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ReproError(f"{path}: not a regular file; only record files belong in the registry: "
                             f"remove it")
        if st.st_size > MAX_RECORD_BYTES:
            raise ReproError(f"{path}: {st.st_size} bytes, larger than any record "
                             f"({MAX_RECORD_BYTES} at most); move it out of the registry")
        with open(path, "rb") as f:
            text = f.read(MAX_RECORD_BYTES + 1)
    except OSError as e:
        raise ReproError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(text) > MAX_RECORD_BYTES:
        raise ReproError(f"{path}: larger than any record ({MAX_RECORD_BYTES} bytes at most)")
    try:
        record = json.loads(text)
    except ValueError as e:
        raise ReproError(f"{path}: malformed JSON ({e}); a record is written once and never "
                         f"edited: restore it, or move it out of the registry") from None
    validate_record(record, source=str(path))
    return record


_registry_roots: list = []


def _inside_registry(target: Path, path) -> bool:
    return any(target.is_relative_to(r) for r in _registry_roots) or any(
        target.is_relative_to(p.resolve()) for p in Path(path).parents if p.name == "results")


def record_files(root=None) -> list:
    """Record paths (str), sorted; writers' temp files ('.' names) are skipped. A symlinked
    directory is refused (followed, it could loop or leave the registry; skipped, results would
    vanish without a word)."""
    out = []
    base = results_dir(root)
    _registry_roots[:] = [base.resolve()] if base.exists() else []
    # os.walk and plain strings, not Path.rglob: several times faster on 10,000 files
    for d, dirs, files in os.walk(base):
        for x in dirs:
            if not x.startswith(".") and os.path.islink(os.path.join(d, x)):
                raise ReproError(f"{os.path.join(d, x)}: a symlinked directory in the registry; "
                                 f"replace it with a real directory holding the records")
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        out += [os.path.join(d, f) for f in files if f.endswith(".json") and f[0] != "."]
    return sorted(out)


def stale_temp_files(root=None, older_than_s: float = 3600.0) -> list:
    """Writers' temp files ('.' names) older than an hour: left by a killed writer."""
    import time

    out, now = [], time.time()
    for d, dirs, files in os.walk(results_dir(root)):
        for f in files:
            p = os.path.join(d, f)
            if f.startswith(".") and f.endswith(".tmp"):
                try:
                    if now - os.lstat(p).st_mtime > older_than_s:
                        out.append(p)
                except OSError:
                    pass
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

