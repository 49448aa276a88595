"""The in-training metric's scorer, which the launchers (local runs, the SLURM TrainJob) hand to
`train_row(on_eval=...)`: the row's own metric and protocol on `RuntimeSpec.eval_num` samples.

Lives here, not in the train layer, so that training never imports evaluation.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path


def metric_callback(row, run_dir, device="cpu"):
    """on_eval(step, ema_model) -> {"metric", "metric_name", "metric_num"}, or None when the row's
    RuntimeSpec.eval_every is 0. Its sample grid goes to <run_dir>/in_training/ (overwritten)."""
    if not row.runtime.eval_every:
        return None
    # The row's metric and sampler; precision/recall would double the cost of a curve point.
    scored = dataclasses.replace(row, eval=dataclasses.replace(row.eval, precision_recall="none"))
    out_dir = Path(run_dir) / "in_training"
    num = int(row.runtime.eval_num)

    def on_eval(step, ema_model) -> dict:
        from repro.eval.row import evaluate_row

        res = evaluate_row(scored, ema_model, out_dir, num=num, device=device, progress=False)
        return {"metric": float(res["metrics"][row.eval.metric]), "metric_name": row.eval.metric,
                "metric_num": int(res["protocol"]["num_samples"]), "row": row.id, "nfe": row.eval.nfe}

    return on_eval
