"""`repro verify --rerun RECORD --profile local` on a real one-node SLURM (slurm/cluster.sh): the
re-run is one job queued through `repro submit`'s path (job log, profile), its comparison is the
local re-run's, and an edited number in the record fails naming the field.

The record is made first by a local re-run's steps (repro/results/rerun.py: HEAD's code in a
worktree, `repro run --smoke`), with 1 torch thread, as the job gets (local profile:
cpus_per_task=1), so every environment field matches and the comparison must be bitwise.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from repro.cli import main as repro_main
from repro.launch import joblog
from repro.results import rerun

pytestmark = pytest.mark.slurm

ROW = "demo/digits/nfe1"


def _git(*args):
    return subprocess.run(["git", "-C", str(Path(__file__).parent), *args], capture_output=True, text=True,
                          check=True).stdout


def _tiny_record(tmp_path) -> Path:
    head = _git("rev-parse", "HEAD").strip()
    job = rerun.Rerun("(made here)", {}, head, in_place=False, cmd=["run", ROW, "--smoke", "--no-progress"])
    work = tmp_path / "made"
    with rerun.workspace(job, work) as (src, env):
        new = rerun.run_repro(src, job.cmd, {**os.environ, **env, "OMP_NUM_THREADS": "1"}, work, lambda s: None)
    assert new["git"] == {"commit": head, "dirty": False} and new["determinism"]["threads"] == 1, new["git"]
    path = tmp_path / "record.json"
    path.write_text(json.dumps(new))
    return path


def test_rerun_on_slurm_reproduces_the_record_and_fails_on_an_edited_number(run_root, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("REPRO_TABLES", str(tmp_path / "tables"))   # no seed repeats: the registry is empty
    path = _tiny_record(tmp_path)
    argv = ["verify", "--rerun", "--profile", "local", "--runs", str(run_root)]
    rc = repro_main([*argv, str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "comparison: bitwise" in out and "verified: the re-run reproduces the record" in out, out
    names = json.loads(path.read_text())["ours"]
    for name in names:
        assert f"ok   {name}: recorded" in out and "bitwise" in out, out
    jobs = joblog.load_jobs(run_root)
    assert [(j["kind"], j["rows"]) for j in jobs] == [("rerun", [ROW])], jobs
    assert f"re-ran as SLURM job {jobs[0]['job_id']} (profile local)" in out, out
    # the code and outputs under the run root are gone, the new record stays beside the job's logs
    assert not any((Path(run_root) / "slurm" / "rerun").iterdir())
    assert str(run_root) not in _git("worktree", "list")
    kept = Path(jobs[0]["folder"].replace("%j", jobs[0]["job_id"])) / "rerun_record.json"
    assert json.loads(kept.read_text())["ours"] == names

    edited = json.loads(path.read_text())
    edited["ours"]["w2_pixels"] += 1.0
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(edited))
    rc = repro_main([*argv, str(bad)])
    out = capsys.readouterr().out
    assert rc == 1, out
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and fails[0].startswith("FAIL w2_pixels: recorded"), out
    assert "NOT verified" in out
