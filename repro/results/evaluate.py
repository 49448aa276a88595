"""Evaluate a row's checkpoint and record the result: the one path that `repro run`, `repro eval`,
`repro verify` and the SLURM evaluation job all take.

A smoke run's record goes to `<eval dir>/record.json`, beside its run, never into the registry,
so smoke numbers can never reach a table.
"""
from __future__ import annotations

from pathlib import Path


def eval_dir_for(row, run_dir) -> Path:
    """Where a row's samples, grid and smoke record go: `<run dir>/eval/<row id, '/' as '__'>`."""
    return Path(run_dir) / "eval" / row.id.replace("/", "__")


def evaluate_and_record(row, ckpt, eval_dir=None, *, num=None, device="auto", progress=True,
                        seed=None, save_images=False, baselines=True, record=True,
                        tables=None, slurm=None) -> dict:
    """Load `ckpt` (a checkpoint file, or a run directory: its newest) for `row`, sample and score
    it with the row's sampler and protocol, add the untrained / held-out baselines for the demo
    metrics (unless `baselines` is False) and, with `record`, write the result record for the
    checkpoint evaluated. `slurm` (from the SLURM evaluation job: job ids, requeues, nodes of its
    training and of itself) goes into the record as its `slurm` field.

    Returns {"row", "metrics" (what the record holds as `ours`), "protocol", "throughput",
    "ckpt", "run_dir", "eval_dir", "record_path" (None without `record`)}.
    """
    from repro.eval.row import DEMO_METRICS, demo_baselines, evaluate_row
    from repro.train.evalload import load_for_eval_cached, resolve_ckpt
    from repro.train.loop import resolve_device

    dev = resolve_device(device)
    ckpt = resolve_ckpt(ckpt)
    run_dir = ckpt.parent.parent              # <run dir>/ckpt/step-*.pt
    out = Path(eval_dir) if eval_dir is not None else eval_dir_for(row, run_dir)
    f = load_for_eval_cached(ckpt, row, device=dev)
    res = evaluate_row(row, f, out, num=num, device=dev, progress=progress, seed=seed,
                       save_images=save_images)
    metrics = dict(res["metrics"])
    if baselines and row.eval.metric in DEMO_METRICS:
        metrics.update(demo_baselines(row, out, device=dev))
    path = write_result(row, ckpt, res, metrics, tables, eval_dir=out, slurm=slurm) if record else None
    return {"row": row, "metrics": metrics, "protocol": res["protocol"],
            "throughput": res.get("throughput"), "ckpt": ckpt, "run_dir": run_dir,
            "eval_dir": out, "record_path": path}


def write_result(row, ckpt, res, ours, tables=None, eval_dir=None, slurm=None) -> Path:
    """The record of `ours` (scored from checkpoint `ckpt`): into the registry at `tables`, or
    for a smoke run to `<eval_dir>/record.json` (default: the row's eval dir of the run)."""
    import torch

    from repro.io import atomic_write_json
    from repro.results.records import make_record, write_record
    from repro.results.schema import validate_record
    from repro.train.checkpoint import load_checkpoint

    ckpt = Path(ckpt)
    state = load_checkpoint(ckpt, row.training_key, mmap=True)   # metadata only
    wall = float(state.get("wall_s", 0.0))
    world = int(state.get("world", 1))
    on_gpu = torch.cuda.is_available()
    training = {"wall_s": wall, "steps": int(state["step"]), "total_steps": row.total_steps,
                "gpu_hours": wall * world / 3600.0 if on_gpu else 0.0, "processes": world}
    rec = make_record(row, ours, res["protocol"], ckpt, training,
                      extra={"throughput": res.get("throughput"),
                             "row_args": {"overrides": list(row.overrides), "smoke": row.smoke},
                             # what decides whether a re-run can match bit for bit (repro/results/rerun.py)
                             "determinism": {
                                 "threads": torch.get_num_threads(),
                                 "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                                 "cudnn_deterministic": bool(torch.backends.cudnn.deterministic)},
                             **({"slurm": slurm} if slurm else {})})
    if row.smoke:
        validate_record(rec)
        path = Path(eval_dir or eval_dir_for(row, ckpt.parent.parent)) / "record.json"
        atomic_write_json(path, rec)
        return path
    return write_record(rec, tables)


def record_line(path) -> str:
    """One terminal line: where a record went and whether the tables can show it."""
    from repro.results.records import read_record
    from repro.results.selection import hidden_reason, is_smoke

    rec = read_record(path)
    if is_smoke(rec):
        return f"smoke record: {path} (kept beside its run; smoke records never enter tables)"
    why = hidden_reason(rec)
    if why:
        return f"record: {path} (kept in the registry, NOT shown in the tables: {why})"
    return f"record: {path} (clean provenance: the tables show it)"
