"""Rows on this machine, what `repro run` does: train once per training key, then evaluate and
record every row of the key with its own sampler and protocol."""
from __future__ import annotations

import time
from pathlib import Path

from repro.paths import runs_root
from repro.rows.group import group_by_training_key
from repro.specs import Row


def run_dir_for(row: Row, root=None) -> Path:
    """`<runs>/<training key>/`: rows that share a key share the run directory."""
    return runs_root(root) / row.training_key


def run_rows(rows: list[Row], max_steps=None, num=None, runs=None, tables=None, record=True,
             device=None, progress=True, log=print) -> list[dict]:
    """Train, evaluate, record; one `evaluate_and_record` result per row, in training-key order."""
    from repro.launch.in_training import metric_callback
    from repro.results.evaluate import evaluate_and_record
    from repro.train import train_row
    from repro.train.loop import resolve_device

    dev = resolve_device(device or "auto")
    results = []
    for key, members in group_by_training_key(rows).items():
        run_dir = run_dir_for(members[0], runs)
        log(f"== training {key} for {', '.join(r.id for r in members)} -> {run_dir}")
        t0 = time.perf_counter()
        train_row(members[0], run_dir, max_steps=max_steps, progress=progress, device=str(dev),
                  on_eval=metric_callback(members[0], run_dir, device=dev))
        log(f"   trained in {time.perf_counter() - t0:.1f} s")
        for row in members:
            t1 = time.perf_counter()
            res = evaluate_and_record(row, run_dir, num=num, device=dev, progress=progress,
                                      record=record, tables=tables)
            log(f"   {row.id}: {_fmt(res['metrics'])}  ({time.perf_counter() - t1:.1f} s; "
                f"grid {res['eval_dir'] / 'grid.png'})")
            results.append(res)
    return results


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())
