"""`repro eval ROW --ckpt ...` on the demo row: scores, grid, optional PNGs, record, nfe/sigmas."""
import json

import pytest

from repro.cli import main

SMALL = ["--set", "ModelSpec.model_channels=16", "--set", "TrainSpec.batch_size=16"]


@pytest.mark.slow
def test_eval_command(isolated, capsys):
    assert main(["train", "demo/digits/nfe1", "--steps", "3", *SMALL]) == 0
    run = next((isolated / "runs").iterdir())
    out = isolated / "ev"
    assert main(["eval", "demo/digits/nfe1", "--ckpt", str(run), "--num", "40", "--save-images",
                 "--out", str(out), *SMALL]) == 0
    text = capsys.readouterr().out
    assert "w2_pixels:" in text and "w2_pixels_untrained:" in text
    assert (out / "grid.png").exists()
    assert len(list(out.rglob("*.png"))) >= 41  # the grid and every sample
    rec = json.loads(next((isolated / "tables" / "results").rglob("*.json")).read_text())
    assert rec["protocol"]["num_samples"] == 40 and rec["protocol"]["nfe"] == 1

    # two steps with explicit sigmas, and a checkpoint of another recipe is refused in one line
    assert main(["eval", "demo/digits/nfe1", "--ckpt", str(run), "--num", "20", "--sigmas", "80", "0.8",
                 "--no-record", "--out", str(out / "two"), *SMALL]) == 0
    capsys.readouterr()
    assert main(["eval", "demo/digits/nfe1", "--ckpt", str(run), "--num", "20", "--no-record"]) == 2
    err = capsys.readouterr().err
    assert "training key" in err and len(err.strip().splitlines()) == 1
