"""`repro verify --rerun RECORD --profile NAME` without a cluster: every bad input is refused in
one line naming the file or flag before anything is queued or written, and the job's callable
(RerunJob) writes the re-run's record and stops its child on the preemption signal. The real
SLURM run: tests/slurm/test_slurm_rerun.py."""
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from repro.cli import main
from repro.io import ReproError
from repro.launch import jobstates
from repro.launch.rerun import RESULT_NAME, RerunJob
from repro.results import records as registry


def _head():
    return subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _record(tmp_path, row_id="demo/digits/nfe1", commit=None):
    from repro.rows import load_row

    row = load_row(row_id)
    rec = registry.make_record(row, {"w2_pixels": 470.0}, {"impl": "repro"}, None,
                               {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 600, "total_steps": 600},
                               extra={"git": {"commit": commit or _head(), "dirty": False},
                                      "row_args": {"overrides": [], "smoke": False}})
    return registry.write_record(rec, tmp_path / "tables"), rec


def _refused(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in needles), err
    return err


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_TABLES", str(tmp_path / "tables"))
    return tmp_path / "runs"


def test_unknown_profile_is_refused_before_slurm(tmp_path, runs, capsys):
    path, _ = _record(tmp_path)
    _refused(["verify", "--rerun", str(path), "--profile", "no-such-profile", "--runs", str(runs)], capsys,
             "no-such-profile")
    assert not runs.exists()


def test_missing_record_is_refused_naming_it(tmp_path, runs, capsys):
    missing = tmp_path / "nope.json"
    _refused(["verify", "--rerun", str(missing), "--profile", "local", "--runs", str(runs)], capsys, str(missing))
    assert not runs.exists()


def test_unknown_commit_and_missing_row_are_refused(tmp_path, runs, capsys):
    path, _ = _record(tmp_path, commit="0" * 40)
    _refused(["verify", "--rerun", str(path), "--profile", "local", "--runs", str(runs)], capsys,
             str(path), "not in this repository")
    # a row that the commit's gin/ lacks (the record is valid: the row exists in this checkout)
    path, rec = _record(tmp_path, commit=_head())
    rec["row"] = "demo/digits/nfe7"
    path.write_text(json.dumps(rec))
    _refused(["verify", "--rerun", str(path), "--profile", "local", "--runs", str(runs)], capsys,
             str(path), "gin/demo/digits/nfe7.gin", "does not exist at commit")


def test_no_slurm_is_refused_before_any_file_is_written(tmp_path, runs, capsys, monkeypatch):
    path, _ = _record(tmp_path)
    monkeypatch.setattr(jobstates.shutil, "which", lambda name: None)
    _refused(["verify", "--rerun", str(path), "--profile", "local", "--runs", str(runs)], capsys,
             "SLURM not reachable")
    assert not runs.exists()


def test_profile_and_runs_need_rerun(tmp_path, capsys):
    path, _ = _record(tmp_path)
    _refused(["verify", str(path), "--profile", "local"], capsys, "--profile", "--rerun")
    _refused(["verify", "--rerun", str(path), "--runs", str(tmp_path)], capsys, "--runs", "--profile")


def test_job_writes_the_rerun_record(tmp_path, monkeypatch):
    from repro.results import rerun

    new = {"row": "demo/digits/nfe1", "ours": {"w2_pixels": 1.5}}
    seen = {}

    def fake(src, cmd, env, work, log, on_start=None):
        seen.update(src=src, cmd=cmd, env=env, work=work)
        return new
    monkeypatch.setattr(rerun, "run_repro", fake)
    out = RerunJob()("SRC", ["run", "demo/digits/nfe1"], {"REPRO_RUNS": "R"}, str(tmp_path))
    assert Path(out) == tmp_path / RESULT_NAME and json.loads(Path(out).read_text()) == new
    assert seen["env"]["REPRO_RUNS"] == "R" and seen["env"]["PATH"] == os.environ["PATH"]
    assert seen["work"] == tmp_path and seen["cmd"] == ["run", "demo/digits/nfe1"]


CHILD = ("import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n")


def test_preemption_signal_stops_the_child_with_sigterm(tmp_path, monkeypatch):
    """USR2 in the job: `repro run` gets SIGTERM (it checkpoints and exits 143) within
    checkpoint_wait_s; outside a submitit job nothing requeues, so the child's exit is the error."""
    from repro.results import rerun

    started = threading.Event()
    box = {}

    def fake(src, cmd, env, work, log, on_start=None):
        proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
        box["proc"] = proc
        on_start(proc)
        proc.stdout.readline()
        started.set()
        if proc.wait() != 0:
            raise ReproError(f"re-run: child failed (exit {proc.returncode})")
        return {}
    monkeypatch.setattr(rerun, "run_repro", fake)
    threading.Thread(target=lambda: started.wait(30) and os.kill(os.getpid(), signal.SIGUSR2), daemon=True).start()
    before = signal.getsignal(signal.SIGUSR2)
    with pytest.raises(ReproError, match="exit 143"):
        RerunJob(checkpoint_wait_s=20)("SRC", ["run"], {}, str(tmp_path))
    assert box["proc"].returncode == 143 and signal.getsignal(signal.SIGUSR2) == before


def test_a_live_rerun_job_does_not_hold_back_the_rows_evaluation(tmp_path):
    # a re-run writes under RUNS/slurm/rerun/, never the row's run dir or record: `repro submit`
    # of the same row must still evaluate it
    from repro.launch.submission import plan_jobs, settle_plan
    from repro.rows import load_row

    row = load_row("demo/digits/nfe1", smoke=True)
    live = [{"kind": "rerun", "state": "RUNNING", "training_key": row.training_key, "rows": [row.id],
             "job_id": "7"}]
    kept = settle_plan(plan_jobs([row], tmp_path), tmp_path, live, log=lambda *a: None)
    assert [(p.kind, p.rows) for p in kept] == [("train", [row.id]), ("eval", [row.id])]
