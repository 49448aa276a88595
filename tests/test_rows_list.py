"""`repro list`: every row with its claim, key, status and estimated GPU-hours."""
import json

from repro.cli import main


def test_list_json(isolated, capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 64                       # 42 paper rows, 2 demo rows, 20 toy rows
    by_id = {r["id"]: r for r in rows}
    r = by_id["slct/t2c/cauchy"]
    assert (r["paper"], r["table"], r["label"], r["dataset"], r["nfe"]) == ("sLCT", "2c", "Cauchy", "celebahq256", 1)
    assert r["status"] == "no result"
    assert r["training_key"] == by_id["slct/t1/celebahq/ours/nfe1"]["training_key"]
    # 294,000 steps x 128 images / 900 img/s (the printed assumption) / 3600
    assert abs(r["gpu_hours_est"] - 294000 * 128 / 900 / 3600) < 0.06
    assert by_id["demo/digits/nfe1"]["gpu_hours_est"] == 0


def test_list_table_prints_assumption(isolated, capsys):
    assert main(["list", "slct/t2d/*"]) == 0
    out = capsys.readouterr().out
    assert "5 rows, 5 distinct trainings" in out and "assumed A100 throughput" in out
