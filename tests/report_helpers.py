"""A run directory and a registry record made by hand (no training), for the report tests."""
import json
from pathlib import Path

import numpy as np


def fake_run(runs: Path, row, steps=200, every=50, grids=("demo/digits/nfe1", "demo/digits/nfe2")):
    """<runs>/<key>/ with metrics.jsonl (loss lines, metric lines, a warning, a torn last line),
    checkpoint hash files and a sample grid per row id."""
    from PIL import Image

    run = Path(runs) / row.training_key
    (run / "ckpt").mkdir(parents=True, exist_ok=True)
    lines = [{"step": 0, "metric": 860.0, "metric_name": "w2_pixels", "metric_num": 200,
              "row": row.id, "nfe": 1, "eval_s": 0.1}]
    for s in range(every, steps + 1, every):
        lines.append({"step": s, "loss": 40.0 / s ** 0.5, "N": 10 + s // 10, "c": 0.004 + s * 1e-5,
                      "steps_per_s": 6.0, "wall_s": s / 6.0})
        lines.append({"step": s, "metric": 860.0 - 1.5 * s, "metric_name": "w2_pixels",
                      "metric_num": 200, "row": row.id, "nfe": 1, "eval_s": 0.1})
    lines.insert(3, {"step": 60, "warning": "loss spike", "spike_at_step": 59, "loss": 400.0,
                     "running_mean": 30.0, "factor": 10.0})
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 9'   # torn by a kill
    (run / "metrics.jsonl").write_text(text)
    (run / "ckpt" / f"step-{steps:07d}.pt.sha256").write_text(f"{'ab' * 32}  step-{steps:07d}.pt\n")
    rng = np.random.default_rng(0)
    for rid in grids:
        d = run / "eval" / rid.replace("/", "__")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (66, 66), dtype=np.uint8)).save(d / "grid.png")
    return run


def fake_record(row, tables: Path, steps=200, sha="ab" * 32, dirty=False, w2=560.0):
    """A valid record of `row` in the registry at `tables` (clean provenance unless `dirty`)."""
    from repro.results.records import make_record, write_record

    rec = make_record(row, {"w2_pixels": w2, "w2_pixels_untrained": 861.0,
                            "w2_pixels_heldout_baseline": 365.0},
                      {"metric": "w2_pixels", "num_samples": 500}, None,
                      {"wall_s": 100.0, "gpu_hours": 0.0, "steps": steps, "total_steps": 600},
                      hardware={"device": "cpu", "count": 1})
    rec["checkpoint"] = {"path": f"runs/{row.training_key}/ckpt/step-{steps:07d}.pt", "sha256": sha}
    rec["git"] = {"commit": "0" * 40, "dirty": dirty}
    rec["row_args"] = {"overrides": [], "smoke": False}
    return write_record(rec, tables)
