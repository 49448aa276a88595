"""What a report reads: the row, its result record (registry, or beside a smoke run), the run
directory's metrics.jsonl, sample grids and checkpoint hashes. Torch-free: nothing here loads a
checkpoint, it reads the sha256 files written beside them.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


def eval_name(row_id: str) -> str:
    """The folder name of a row under <run dir>/eval/ (and of its copied grid)."""
    return row_id.replace("/", "__")


def registry_report_dir(row_id: str, tables=None) -> Path:
    from repro.paths import tables_root

    return tables_root(tables) / "reports" / row_id


def run_report_dir(run_dir, row_id: str) -> Path:
    return Path(run_dir) / "report" / eval_name(row_id)


# ------------------------------------------------------------------ metrics.jsonl

@dataclass
class Metrics:
    curves: list = field(default_factory=list)       # {step, loss, N, c, steps_per_s, wall_s}
    evals: list = field(default_factory=list)        # {step, metric, metric_name, metric_num, eval_s}
    warnings: list = field(default_factory=list)     # lines with "warning"
    unreadable: int = 0                              # lines that are not JSON objects


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_metrics(path) -> Metrics:
    """Parse a run's metrics.jsonl. A later line for the same step replaces an earlier one (a run
    restarted before its first checkpoint logs its steps again); torn or foreign lines are
    counted, not fatal."""
    out = Metrics()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    curves, evals = {}, {}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            out.unreadable += 1
            continue
        if not isinstance(rec, dict) or not _finite(rec.get("step")):
            out.unreadable += 1
            continue
        step = int(rec["step"])
        if "warning" in rec:
            out.warnings.append(rec)
        elif "metric" in rec:
            if _finite(rec.get("metric")):
                evals[step] = rec
        elif "loss" in rec:
            curves[step] = rec
    out.curves = [curves[k] for k in sorted(curves)]
    out.evals = [evals[k] for k in sorted(evals)]
    return out


# ------------------------------------------------------------------ records

@dataclass
class RecordInfo:
    record: dict
    path: Path
    in_registry: bool
    hidden: str | None               # why the tables do not show it (None: shown)


def registry_records(row_id: str, tables=None) -> list:
    """[(record, path)] of a row in the registry, oldest first (date, then file name)."""
    from repro.results.records import read_record, results_dir

    d = results_dir(tables) / row_id
    if not d.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".json") and not name.startswith("."):
            rec = read_record(d / name)
            out.append((rec, d / name))
    return sorted(out, key=lambda rp: (rp[0]["date"], str(rp[1])))


def pick_record(row_id: str, tables=None) -> RecordInfo | None:
    """The record the tables show for the row (selection.SELECTION_RULE); failing that the
    registry's latest one, marked hidden with the reason; None without any."""
    from repro.results.selection import hidden_reason

    recs = registry_records(row_id, tables)
    shown = [(r, p) for r, p in recs if hidden_reason(r) is None]
    if shown:
        r, p = shown[-1]
        return RecordInfo(r, p, True, None)
    if recs:
        r, p = recs[-1]
        return RecordInfo(r, p, True, hidden_reason(r))
    return None


def run_record(run_dir, row_id: str) -> RecordInfo | None:
    """A record kept beside its run (smoke runs write <run dir>/eval/<row>/record.json)."""
    from repro.results.records import read_record
    from repro.results.selection import hidden_reason

    p = Path(run_dir) / "eval" / eval_name(row_id) / "record.json"
    if not p.is_file():
        return None
    r = read_record(p)
    return RecordInfo(r, p, False, hidden_reason(r))


# ------------------------------------------------------------------ checkpoints

def checkpoint_hash(run_dir, step: int) -> str | None:
    """The sha256 written beside <run dir>/ckpt/step-NNNNNNN.pt (repro/train/checkpoint.py's
    names: read here as text so that a report never loads torch)."""
    p = Path(run_dir) / "ckpt" / f"step-{int(step):07d}.pt.sha256"
    try:
        return p.read_text().split()[0]
    except (OSError, IndexError):
        return None


def checkpoint_match(run_dir, record: dict) -> str:
    """Does the run directory hold the checkpoint the record was scored from?"""
    want = (record.get("checkpoint") or {}).get("sha256")
    step = (record.get("training") or {}).get("steps")
    if not want or step is None:
        return "the record names no checkpoint hash"
    have = checkpoint_hash(run_dir, step)
    if have is None:
        return f"step {step}'s checkpoint is not in the run directory (pruned, or another machine's run)"
    if have == want:
        return f"matches the record (step {step}, sha256 {want[:12]})"
    return (f"DIFFERS from the record (run dir step {step}: {have[:12]}, record: {want[:12]}): the "
            f"curves and samples come from another run of the same training key")


# ------------------------------------------------------------------ one row, gathered

@dataclass
class RowSource:
    row: object                      # repro.specs.Row
    record: RecordInfo | None
    run_dir: Path
    run_exists: bool
    report_dir: Path
    metrics: Metrics


def gather(row, runs=None, tables=None) -> RowSource:
    """Everything a row's page shows. The run directory is the one of the record's training key
    (the row's current key when it has no record)."""
    from repro.paths import runs_root

    rec = pick_record(row.id, tables)
    key = rec.record.get("training_key") if rec is not None else None
    run_dir = runs_root(runs) / (key or row.training_key)
    if not run_dir.is_dir() and rec is not None:
        # a run made under another runs root: the directory of the checkpoint the record names
        # (an absolute path only: a relative one says nothing about where it was relative to)
        ckpt = (rec.record.get("checkpoint") or {}).get("path")
        there = Path(ckpt).parent.parent if ckpt and Path(ckpt).is_absolute() else None
        if there is not None and there.name == key and there.is_dir():
            run_dir = there
    if rec is None:
        rec = run_record(run_dir, row.id)
    # the registry's folder holds the pages of what the tables show, and only those: a record
    # they hide (uncommitted code) gets its page beside its run
    report_dir = (registry_report_dir(row.id, tables) if rec is not None and rec.in_registry
                  and rec.hidden is None else run_report_dir(run_dir, row.id))
    return RowSource(row=row, record=rec, run_dir=run_dir, run_exists=run_dir.is_dir(),
                     report_dir=report_dir, metrics=read_metrics(run_dir / "metrics.jsonl"))
