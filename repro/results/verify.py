"""Re-check a result record against its checkpoint (`repro verify`):

1. the checkpoint's sha256 must equal the record's (else exit 1: it is not the checkpoint the
   number came from);
2. the evaluation the record describes is run again (same row, same sample count and seeds);
3. each recorded number must agree with the re-evaluated one within the verify tolerance of
   repro/results/tolerances.py (exit 0), else exit 1. Invalid record or missing file: exit 2.
"""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from repro.io import ReproError

# protocol fields that must match for the re-evaluation to be the same measurement
_SAME_PROTOCOL = ("metric", "mode", "reference_sha256", "num_samples", "nfe", "gen_format", "seed")


@dataclasses.dataclass
class VerifyResult:
    ok: bool
    exit_code: int
    lines: list


def default_evaluate(record: dict, ckpt_path: Path) -> dict:
    """Run the evaluation the record describes: the row from gin at this commit, with the
    record's sample count, sampler sigmas and seed. Returns {'metrics', 'protocol', 'warnings'}."""
    import tempfile

    from repro.results.evaluate import evaluate_and_record
    from repro.rows import load_row

    args = record.get("row_args") or {}
    row = load_row(record["row"], overrides=tuple(args.get("overrides", ())), smoke=bool(args.get("smoke", False)))
    warnings = []
    if row.training_key != record["training_key"]:
        warnings.append(f"note: the row's recipe changed since the record (training key "
                        f"{record['training_key']} -> {row.training_key}); evaluating with today's")
    proto = record["protocol"]
    ev = dataclasses.replace(row.eval, sigmas=tuple(proto["sigmas"]), nfe=int(proto["nfe"]),
                             seed=int(proto["seed"]))
    row = dataclasses.replace(row, eval=ev)
    # the untrained / held-out baselines only where the record has them
    baselines = any(k.startswith(row.eval.metric + "_") for k in record["ours"])
    with tempfile.TemporaryDirectory(prefix="repro-verify-") as out:
        res = evaluate_and_record(row, ckpt_path, out, num=int(proto["num_samples"]),
                                  progress=False, baselines=baselines, record=False)
    return {"metrics": res["metrics"], "protocol": res["protocol"], "warnings": warnings}


def _numbers(res: dict) -> dict:
    src = res.get("ours") or res.get("metrics") or res
    return {k: float(v) for k, v in src.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def verify_record(record_path, evaluate_fn=None, ckpt=None, ckpt_dirs=()) -> VerifyResult:
    """The logic of `repro verify`; `evaluate_fn(record, ckpt_path) -> dict` is injectable."""
    from repro.io import sha256_file
    from repro.results import tolerances as tol
    from repro.results.records import read_record

    record = read_record(record_path)
    lines = [f"record {record_path}: row {record['row']}, date {record['date']}"]
    problems = provenance_issues(record)
    lines += [f"FAIL provenance: {p}" for p in problems]
    rec_ckpt = record["checkpoint"]
    if ckpt is None and not rec_ckpt.get("path") and not rec_ckpt.get("sha256"):
        raise ReproError(f"{record_path}: records no checkpoint; nothing to verify against")
    path, digest, tried = find_checkpoint(rec_ckpt, ckpt=ckpt, ckpt_dirs=ckpt_dirs)
    if path is None:
        url = f" (published at {rec_ckpt['url']}: download it into one of them)" if rec_ckpt.get("url") else ""
        raise ReproError(f"{record_path}: checkpoint not found (sha256 {str(rec_ckpt.get('sha256'))[:16]}…; "
                         f"(looked in {'; '.join(tried)}){url}; pass --ckpt PATH or --ckpt-dir DIR")
    if digest != rec_ckpt.get("sha256"):
        lines.append(f"FAIL checkpoint sha256 mismatch: {path} has {digest}, the record says "
                     f"{rec_ckpt.get('sha256')}; this is not the checkpoint the numbers came from")
        return VerifyResult(False, 1, lines)
    lines.append(f"ok   checkpoint {path} sha256 {digest[:16]}… matches")

    res = dict((evaluate_fn or default_evaluate)(record, path))
    lines += [str(w) for w in res.get("warnings", ())]
    proto = res.get("protocol") or {}
    for k in _SAME_PROTOCOL:
        if k in proto and k in record["protocol"] and proto[k] != record["protocol"][k]:
            lines.append(f"note: protocol.{k} differs: recorded {record['protocol'][k]!r}, "
                         f"re-evaluated {proto[k]!r}")
    new = _numbers(res)
    ok = True
    for name, old in sorted(record["ours"].items()):
        if old is None:
            continue
        m = tol.metric(name)
        if name not in new:
            ok = False
            lines.append(f"FAIL {name}: recorded {old:.{m.digits}f}, the re-evaluation gave none")
            continue
        agree = tol.agrees(old, new[name], name)
        ok &= agree
        lines.append(f"{'ok  ' if agree else 'FAIL'} {name}: recorded {old:.{m.digits}f}, "
                     f"re-evaluated {new[name]:.{m.digits}f} (Δ {new[name] - old:+.{m.digits}f}, "
                     f"tolerance ±{m.verify_tolerance(old):.{m.digits}f}): "
                     f"{'agree' if agree else 'disagree'}")
    if ok and problems:
        lines.append(f"NOT verified: the numbers agree with the checkpoint, but the record's provenance "
                     f"has {len(problems)} problem{'s' if len(problems) > 1 else ''} (above)")
        return VerifyResult(False, 1, lines)
    lines.append("verified: the record agrees with its checkpoint" if ok else
                 "NOT verified: the re-evaluation disagrees with the record")
    return VerifyResult(ok, 0 if ok else 1, lines)


def checkpoint_dirs(ckpt_dirs=()) -> list:
    """Where a checkpoint is looked up by its sha256 (file `<sha256>.pt`): the given dirs, then
    $REPRO_CACHE/checkpoints/, then the registry's checkpoints/ (what a project ships beside its
    records, so that a fresh clone can verify them)."""
    import os

    from repro.paths import tables_root

    out = [Path(d) for d in ckpt_dirs]
    cache = os.environ.get("REPRO_CACHE")
    if cache:
        out.append(Path(cache) / "checkpoints")
    out.append(tables_root() / "checkpoints")
    return out


def find_checkpoint(rec_ckpt: dict, ckpt=None, ckpt_dirs=()):
    """(path, its sha256, what was tried) of the checkpoint a record names. `ckpt` (--ckpt) is
    taken as given, even with another hash (the caller reports the mismatch). Otherwise the first
    file with the recorded hash among: the recorded path (relative paths from the project root,
    then the cwd), `<dir>/<sha256>.pt` in checkpoint_dirs, then any *.pt under the `ckpt_dirs`
    (--ckpt-dir) with that hash. No file with the hash but one at the recorded path: that one,
    so the mismatch is reported. Nothing at all: (None, None, tried)."""
    from repro.io import sha256_file
    from repro.paths import project_root

    if ckpt is not None:
        p = Path(ckpt)
        if not p.is_file():
            raise ReproError(f"{p}: checkpoint not found (--ckpt); pass the checkpoint file")
        return p, sha256_file(p), [str(p)]
    want = rec_ckpt.get("sha256")
    tried, fallback = [], None
    recorded = rec_ckpt.get("path")
    cands = []
    if recorded:
        r = Path(recorded)
        root = project_root()
        cands += [r] if r.is_absolute() else ([root / r] if root else []) + [Path.cwd() / r]
    for c in cands:
        tried.append(str(c))
        if c.is_file():
            d = sha256_file(c)
            if d == want:
                return c, d, tried
            fallback = fallback or (c, d)
    if isinstance(want, str) and re.fullmatch(r"[0-9a-f]{64}", want):
        for d in checkpoint_dirs(ckpt_dirs):
            c = d / f"{want}.pt"
            tried.append(str(c))
            if c.is_file() and sha256_file(c) == want:
                return c, want, tried
        for d in ckpt_dirs:
            for c in sorted(Path(d).rglob("*.pt")) if Path(d).is_dir() else ():
                if c.is_file() and sha256_file(c) == want:
                    return c, want, tried + [f"{d}/**/*.pt"]
            tried.append(f"{d}/**/*.pt")
    if fallback:
        return fallback[0], fallback[1], tried
    return None, None, tried


def provenance_issues(record: dict) -> list:
    """What keeps a record from being a clean result of this repository: a smoke run, a dirty or
    unknown commit, a commit this checkout does not have, no checkpoint, a recipe that differs
    from the row's today, a row that no longer exists."""
    import subprocess

    from repro.results.provenance import git_state
    from repro.results.selection import hidden_reason, provenance_problems
    from repro.rows import all_row_ids, load_row

    out = []
    why = hidden_reason(record)
    if why:
        out.append(why)
    commit = (record.get("git") or {}).get("commit")
    if isinstance(commit, str) and commit and git_state().get("commit"):
        here = str(Path(__file__).resolve().parent)
        known = subprocess.run(["git", "-C", here, "cat-file", "-e", f"{commit}^{{commit}}"],
                               capture_output=True, timeout=30).returncode == 0
        if not known:
            out.append(f"commit {commit[:12]} is not in this repository")
    if record["row"] not in all_row_ids():
        out.append(f"row {record['row']} does not exist here (no gin file)")
        return out
    args = record.get("row_args") or {}
    try:
        row = load_row(record["row"], overrides=tuple(args.get("overrides", ())), smoke=bool(args.get("smoke")))
    except ReproError as e:
        return out + [f"the row does not load with the record's overrides ({e})"]
    return out + provenance_problems(record, row)

