"""The results registry: one self-contained JSON record per evaluated result.

Layout: `<root>/results/<row id>/<UTC timestamp>-<short uuid>.json`, root as
`repro.paths.tables_root` resolves it. A record is written once (validated first, then temp file +
fsync + rename through repro.io) and never edited; a new evaluation is a new file, so 64 writers
never contend for a name. Files whose name starts with '.' are writers' temp files (a writer
killed mid-write leaves one behind) and are never read.

Which record a table shows: SELECTION_RULE. A record is shown only when its provenance is clean
(`hidden_reason` is None): a result from uncommitted code stays in the registry, with its
provenance, but the published table keeps its previous clean record. Smoke records never enter
the registry (`write_record` refuses them; `repro run --smoke` keeps them beside the run). This
module imports neither torch nor pandas at module level (both are loaded inside the functions
that need them).
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
from repro.paths import tables_root

SCHEMA_VERSION = 1

SELECTION_RULE = ("a record is shown only when its provenance is clean (git commit known, no "
                  "uncommitted changes outside tables/ when it was written) and it is not a smoke "
                  "run; of a row's shown records, the latest by record date (UTC; ties broken by "
                  "file name)")

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
        # Untracked files (runs/, new records) and the generated tables/ do not make the code
        # dirty: otherwise the tables a clean run re-renders would hide every later result.
        st = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no",
                             "--", ":(top)", ":(top,exclude)tables"],
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


# ---------------------------------------------------------------- what the tables show

def _get(record, dotted):
    """`dotted` from a nested record or from load_records' flattened row; None when absent."""
    if dotted in record:
        return record[dotted]
    cur = record
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _flag(v):
    """True / False for a JSON bool (also as numpy's bool out of a DataFrame), else None."""
    if isinstance(v, bool):
        return v
    import numpy as np

    return bool(v) if isinstance(v, np.bool_) else None


def is_smoke(record) -> bool:
    return _flag(_get(record, "row_args.smoke")) is True


def hidden_reason(record) -> str | None:
    """Why the tables never show `record` (nested, or flattened as load_records gives it);
    None when SELECTION_RULE lets it be shown."""
    if is_smoke(record):
        return "a smoke run; smoke records never enter tables"
    commit = _get(record, "git.commit")
    if not isinstance(commit, str) or not commit:
        return "git commit unknown (not run from a git checkout)"
    dirty = _flag(_get(record, "git.dirty"))
    if dirty is not False:
        what = "had uncommitted changes" if dirty else "may have had uncommitted changes"
        return (f"the checkout {what} outside tables/ when it was written (commit {commit[:10]}); "
                f"commit them and run again to publish")
    return None


_NOT_RECIPE = ("Claim.", "RuntimeSpec.", "repro.recipe.unconfirmed")


def recipe_bindings(operative: str) -> set:
    """The bindings of an operative config that decide what is trained and how it is scored:
    all but the claim (placement, notes) and the runtime (how to run, not what)."""
    lines, cur = set(), ""
    for line in (operative or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t)]}" and cur:         # continuation of a multi-line value
            cur += " " + line.strip()
            continue
        if cur:
            lines.add(cur)
        cur = line.strip()
    if cur:
        lines.add(cur)
    return {b for b in lines if not b.startswith(_NOT_RECIPE) and not b.startswith("import ")}


def provenance_problems(record, row=None) -> list:
    """What keeps a shown record from being fully checkable: no checkpoint, or a recipe that
    differs from the row's today. (Dirty or unknown commits are never shown: hidden_reason.)"""
    out = []
    if not _get(record, "checkpoint.sha256"):
        out.append("no checkpoint recorded (cannot be verified)")
    if row is not None:
        then = _get(record, "operative_config")
        # a seed repeat (`repro run --seeds/--eval-seeds`) is the row's recipe with other seeds;
        # a parameter the record's config lacks entirely was added later, with the old behaviour
        # as its default (how this project adds settings), so it is no change of this result
        old = recipe_bindings(then if isinstance(then, str) else "")
        known = {b.split(" = ", 1)[0] for b in old}
        diff = sorted(b for b in old ^ recipe_bindings(row.operative_config)
                      if not b.startswith(("TrainSpec.seed", "EvalSpec.seed"))
                      and (b in old or b.split(" = ", 1)[0] in known))
        if isinstance(then, str) and diff:
            out.append(f"the row's recipe changed since this result ({len(diff)} binding"
                       f"{'s' if len(diff) != 1 else ''} differ)")
    return out


def shown_mask(df):
    """Boolean Series over load_records' rows: may SELECTION_RULE show this record?"""
    import pandas as pd

    def col(name):
        return df[name] if name in df.columns else pd.Series(None, index=df.index, dtype=object)

    smoke = col("row_args.smoke").map(lambda v: _flag(v) is True)
    commit = col("git.commit").map(lambda v: isinstance(v, str) and bool(v))
    clean = col("git.dirty").map(lambda v: _flag(v) is False)
    return (~smoke) & commit & clean


def smoke_paths(records_df) -> list:
    """Paths of smoke records found in the registry (they must not be there), sorted."""
    if records_df is None or len(records_df) == 0 or "row_args.smoke" not in records_df.columns:
        return []
    hit = records_df["row_args.smoke"].map(lambda v: _flag(v) is True)
    return sorted(records_df.loc[hit, "path"])


def select_shown(records_df):
    """One record per row id, by SELECTION_RULE: among the records with clean provenance that
    are not smoke runs, the latest date, then the last file name. A row whose records are all
    hidden has none."""
    if records_df is None or len(records_df) == 0:
        return records_df
    df = records_df[shown_mask(records_df)].sort_values(["row", "date", "path"], kind="stable")
    return df.drop_duplicates("row", keep="last").reset_index(drop=True)
