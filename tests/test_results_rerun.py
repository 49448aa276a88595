"""`repro verify --rerun`: the re-run's command, where its code comes from, and how its numbers
are compared (bitwise when the environment matches, else within the measured noise)."""
import copy
import subprocess
from pathlib import Path

import pytest

from repro.cli import main
from repro.io import ReproError
from repro.results import records as registry
from repro.results import rerun

ENV = {"packages": {"torch": "2.14.1"}, "hardware": {"device": "cpu", "count": 1},
       "runtime": {"bf16": True, "tf32": True},
       "determinism": {"threads": 2, "deterministic_algorithms": False, "cudnn_deterministic": False}}


def _head():
    return subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _record(tmp_path, commit=None, ours=None):
    from repro.rows import load_row

    row = load_row("demo/digits/nfe1", overrides=["TrainSpec.seed=1", "EvalSpec.seed=43"])
    rec = registry.make_record(row, ours or {"w2_pixels": 470.0}, {"impl": "repro"}, None,
                               {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 600, "total_steps": 600},
                               hardware=ENV["hardware"],
                               extra={"git": {"commit": commit or _head(), "dirty": False},
                                      "checkpoint": {"path": "x.pt", "sha256": "ab" * 32},
                                      "row_args": {"overrides": list(row.overrides), "smoke": False},
                                      "packages": ENV["packages"], "runtime": ENV["runtime"],
                                      "determinism": ENV["determinism"]})
    return registry.write_record(rec, tmp_path), rec


def test_command_names_row_overrides_and_protocol(tmp_path):
    _, rec = _record(tmp_path)
    cmd = rerun.run_command(rec)
    assert cmd[:2] == ["run", "demo/digits/nfe1"]
    assert cmd[cmd.index("--num") + 1] == "500"
    assert ["--set", "TrainSpec.seed=1"] == cmd[cmd.index("TrainSpec.seed=1") - 1:cmd.index("TrainSpec.seed=1") + 1]
    assert "EvalSpec.seed=43" in cmd and "--steps" not in cmd


def test_unknown_commit_is_a_one_line_refusal(tmp_path, capsys):
    path, _ = _record(tmp_path, commit="0" * 40)
    assert main(["verify", "--rerun", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not in this repository" in err and len(err.splitlines()) == 1


def test_bitwise_when_the_environment_matches(tmp_path):
    _, rec = _record(tmp_path)
    ok, lines = rerun.compare(rec, copy.deepcopy(rec))
    assert ok and any("bitwise" in ln for ln in lines)
    assert any("thread count 2" in ln and "torch version 2.14.1" in ln for ln in lines)
    off = copy.deepcopy(rec)
    off["ours"]["w2_pixels"] = 470.0 + 1e-9                 # one ulp-ish off: not bitwise
    ok, lines = rerun.compare(rec, off)
    assert not ok and any(ln.startswith("FAIL w2_pixels") for ln in lines)


def test_within_noise_when_the_environment_differs(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_TABLES", str(tmp_path / "empty"))
    _, rec = _record(tmp_path)
    other = copy.deepcopy(rec)
    other["packages"]["torch"] = "2.15.0"
    other["ours"]["w2_pixels"] = 470.3                       # within the 0.1 % verify tolerance
    ok, lines = rerun.compare(rec, other)
    assert ok and any("torch version differs" in ln for ln in lines), lines
    other["ours"]["w2_pixels"] = 490.0
    ok, lines = rerun.compare(rec, other)
    assert not ok and any(ln.startswith("FAIL w2_pixels") and "verify tolerance" in ln for ln in lines)


def test_noise_band_uses_the_seed_repeats(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_TABLES", str(tmp_path))
    _, rec = _record(tmp_path, ours={"w2_pixels": 470.0})
    from repro.rows import load_row
    for s, v in ((2, 480.0), (3, 460.0)):
        row = load_row("demo/digits/nfe1", overrides=[f"TrainSpec.seed={s}", "EvalSpec.seed=43"])
        r = registry.make_record(row, {"w2_pixels": v}, {"impl": "repro"}, None,
                                 {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 600},
                                 hardware=ENV["hardware"],
                                 extra={"git": rec["git"], "checkpoint": rec["checkpoint"],
                                        "row_args": {"overrides": list(row.overrides), "smoke": False}})
        registry.write_record(r, tmp_path)
    band, how = rerun.noise_band(rec, "w2_pixels")
    assert band == pytest.approx(2 * 10.0) and "3 seed repeats" in how


def test_rerun_runs_the_records_commit_in_a_worktree(tmp_path):
    path, rec = _record(tmp_path)
    seen = {}

    def fake_run(src, cmd, env, work, log):
        seen.update(src=src, has_code=(Path(src) / "repro" / "cli.py").is_file(), env=env, cmd=cmd)
        return copy.deepcopy(rec)
    res = rerun.rerun_record(path, run_fn=fake_run, log=lambda *a: None)
    assert res.exit_code == 0, res.lines
    assert seen["has_code"] and seen["env"]["PYTHONPATH"] == str(seen["src"])
    assert seen["cmd"][:2] == ["run", "demo/digits/nfe1"]
    assert not Path(seen["src"]).exists() or Path(seen["src"]) == rerun._checkout()   # removed after
