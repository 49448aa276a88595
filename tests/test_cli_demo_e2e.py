"""The default job at reduced size, end to end: train, sample 1 and 2 steps, score, grid, record,
table; then `repro verify` re-derives the recorded numbers from the checkpoint."""
import json

import pytest

from repro.cli import main


@pytest.mark.slow
def test_default_job_reduced_end_to_end(isolated, capsys):
    rc = main(["run", "demo/digits", "--steps", "30", "--num", "100", "--set", "TrainSpec.batch_size=32",
               "--set", "ModelSpec.model_channels=16"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| demo/digits/nfe1 |" in out and "| demo/digits/nfe2 |" in out
    assert "w2_pixels_untrained" in out and "w2_pixels_heldout_baseline" in out
    records = sorted((isolated / "tables" / "results").rglob("*.json"))
    assert len(records) == 2
    rec = json.loads(records[0].read_text())
    for key in ("w2_pixels", "w2_pixels_untrained", "w2_pixels_heldout_baseline"):
        assert rec["ours"][key] > 0
    # the held-out baseline is real data against real data: the floor the model is measured against
    assert rec["ours"]["w2_pixels_heldout_baseline"] < rec["ours"]["w2_pixels_untrained"]
    assert rec["training"]["steps"] == 30 and rec["checkpoint"]["sha256"]
    assert rec["protocol"]["num_samples"] == 100
    runs = list((isolated / "runs").iterdir())
    assert len(runs) == 1  # one training for both rows
    assert (runs[0] / "eval" / "demo__digits__nfe1" / "grid.png").stat().st_size > 100
    assert (runs[0] / "operative_config.gin").read_text().startswith("# Parameters")
    assert (isolated / "tables" / "demo.md").exists()
    # the tables are fresh after the run
    assert main(["tables", "--check"]) == 0

    # a reviewer re-checks the record: checkpoint hash, then the same numbers re-evaluated
    capsys.readouterr()
    rc = main(["verify", str(records[0])])
    out = capsys.readouterr().out
    assert "ok   w2_pixels" in out and "agree" in out.lower()
    # a record written from a checkout with uncommitted changes must not pass as verified
    clean = rec["git"]["commit"] and rec["git"]["dirty"] is False
    assert rc == (0 if clean else 1), out
    assert ("FAIL provenance" in out) == (not clean)
