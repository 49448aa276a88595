"""Re-runs toy block (a), sLCT's component chain, at 40 steps: every switch the chain adds (Cauchy,
the diffusion term, OT, adaptive c with GN, NsLN) must change the trained model, and every row
must learn. A switch that silently stopped doing anything would give the same bits as the row
before it, since all rows start from the same seed and data order."""
import json
import math

import pytest

from repro.cli import main
from repro.results.records import load_records

CHAIN = ["ilct", "cauchy", "plus_diff", "plus_ot", "plus_scaled_c", "plus_nsln"]


@pytest.mark.slow
def test_toy_component_chain_switches_change_the_result(tmp_path, capsys):
    rows = [f"toy/slct/t2a/{r}" for r in CHAIN]
    assert main(["run", *rows, "--runs", str(tmp_path / "runs"), "--tables", str(tmp_path / "tables"),
                 "--set", "TrainSpec.total_steps=40", "--no-progress", "--device", "cpu"]) == 0
    capsys.readouterr()
    df = load_records(tmp_path / "tables")
    assert sorted(df["row"]) == sorted(rows)
    w2 = dict(zip(df["row"], df["ours.w2_pixels"]))
    untrained = dict(zip(df["row"], df["ours.w2_pixels_untrained"]))
    keys = dict(zip(df["row"], df["training_key"]))
    assert len(set(keys.values())) == len(rows)
    for r in rows:
        assert math.isfinite(w2[r]) and w2[r] < untrained[r], (r, w2[r], untrained[r])
    # each step of the chain changes the trained weights, hence the samples and their W2
    for a, b in zip(rows, rows[1:]):
        assert w2[a] != w2[b], f"{b} scores exactly as {a} ({w2[a]}): its switch changed nothing"
    # and the operative config of each run holds the switch the chain adds
    configs = {r: json.loads((tmp_path / "runs" / keys[r] / "row.json").read_text()) for r in rows}
    loss = {r: configs[r]["loss"] for r in rows}
    model = {r: configs[r]["model"] for r in rows}
    assert [loss[r]["distance"] for r in rows[:2]] == ["pseudo_huber", "cauchy"]
    assert (loss[rows[1]]["diff_r"], loss[rows[2]]["diff_r"]) == (0.0, 0.25)
    assert (loss[rows[2]]["coupling"], loss[rows[3]]["coupling"]) == ("none", "ot")
    assert (loss[rows[3]]["c_kind"], loss[rows[4]]["c_kind"]) == ("ict", "adaptive")
    assert (model[rows[4]]["norm"], model[rows[5]]["norm"]) == ("gn", "ns_layernorm")
