"""repro/launch/slurm.py on a real one-node SLURM (slurm/cluster.sh): submit, arrays, 2-task torch.distributed,
preemption + resume, failure / cancel surfacing in `repro status`, unreachable SLURM.

Here the training is the injectable `jobfns.fake_train` (same checkpoint-request protocol as
repro.train); the real loop (submit -> record, shared training keys, DDP equivalence, bit-exact
resume after a real preemption) is in test_slurm_rows.py.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import jobfns
from repro.cli import main as repro_main
from repro.launch import executors, joblog, slurm, submission
from repro.launch.profiles import load_profile

pytestmark = pytest.mark.slurm


def _profile():
    return load_profile("local")


def _wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _result(job, timeout, all_tasks=False):
    """job.result() with a timeout (submitit's has none): wait for the result pickle(s) first."""
    _wait_for(lambda: job.done(), timeout, f"job {job.job_id} to finish")
    return job.results() if all_tasks else job.result()


def _status(capsys, root):
    rc = repro_main(["status", "--runs", str(root)])
    return rc, capsys.readouterr().out


def test_submit_one_job_returns_its_result(run_root):
    ex = executors.make_executor(_profile(), joblog.slurm_folder(run_root), name="add")
    job = ex.submit(jobfns.add, 2, 3)
    assert _result(job, 120) == 5


def test_array_of_three(run_root):
    ex = executors.make_executor(_profile(), joblog.slurm_folder(run_root), name="square")
    jobs = ex.map_array(jobfns.square, [1, 2, 3])
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1, "one array job"
    assert [_result(j, 120) for j in jobs] == [1, 4, 9]


def test_two_tasks_init_torch_distributed(run_root):
    ex = executors.make_executor(_profile(), joblog.slurm_folder(run_root), name="ddp", tasks_per_node=2)
    job = ex.submit(jobfns.ddp_probe)
    res = sorted(_result(job, 180, all_tasks=True))
    assert [r[:3] for r in res] == [(0, 2, 0), (1, 2, 1)]
    assert all(r[3] == 3.0 for r in res), "all_reduce of rank+1 over 2 ranks is 3"
    assert {r[4] for r in res} == {"gloo"}


def test_preempted_trainjob_saves_on_signal_and_resumes(run_root):
    prof = _profile()
    folder = joblog.slurm_folder(run_root)
    # The victim takes both CPUs of the node, so the `high` job can only run by preempting it.
    ex = executors.make_executor(prof, folder, name="victim", cpus_per_task=2)
    steps = 16
    job = ex.submit(slurm.TrainJob(jobfns.fake_train, hooks="jobfns", checkpoint_wait_s=prof.checkpoint_wait_s),
                    "fake/row", (), str(run_root), steps, False)
    progress = Path(run_root) / "fake__row" / "progress"
    _wait_for(lambda: progress.exists() and int(progress.read_text() or 0) >= 4, 90, "the victim to make progress")
    hx = executors.make_executor(prof, folder, name="preemptor", slurm_partition="high", cpus_per_task=1)
    assert _result(hx.submit(jobfns.add, 1, 1), 120) == 2
    res = _result(job, 180)
    assert res["acc"] == sum(range(steps))
    starts = res["starts"]
    assert len(starts) >= 2, f"never preempted: {starts}"
    assert starts[0]["step"] == 0
    # The restart began where the signal-time save left off, not from scratch.
    assert starts[1]["step"] >= 4 and starts[1]["restart"] >= 1, starts


def test_plan_trains_once_per_key_then_evaluates_after_it(run_root, capsys):
    from repro.rows import load_row

    rows = [load_row(r, smoke=True) for r in ("demo/digits/nfe1", "demo/digits/nfe2")]
    assert rows[0].training_key == rows[1].training_key
    plan = submission.plan_jobs(rows, run_root, smoke=True, max_steps=2)
    submission.submit_planned(plan, _profile(), run_root, train_fn=jobfns.quick_train, eval_fn=jobfns.quick_eval)
    train, ev = plan
    assert (train.kind, ev.kind, ev.depends_on) == ("train", "eval", train.job_id)
    reg = joblog.load_jobs(run_root)
    assert [(e["kind"], e["job_id"]) for e in reg] == [("train", train.job_id), ("eval", ev.job_id)]
    from submitit.slurm.slurm import SlurmJob

    res = _result(SlurmJob(folder=reg[1]["folder"], job_id=ev.job_id), 120)
    assert res == {r.id: ["demo__digits__nfe1"] for r in rows}, "one training, evaluated for both rows"
    out = _wait_for(lambda: (lambda o: o if o.count("COMPLETED") == 2 else None)(_status(capsys, run_root)[1]),
                    60, "both jobs COMPLETED in sacct")
    assert train.job_id in out and ev.job_id in out


def test_failed_job_shows_log_and_error_in_status(run_root, capsys):
    plan = [submission.PlannedJob("train", "k-fail", ["demo/boom"], ("demo/boom", (), str(run_root), 1, False))]
    submission.submit_planned(plan, _profile(), run_root, train_fn=jobfns.boom_train, evaluate=False)
    capsys.readouterr()

    def failed():
        rc, out = _status(capsys, run_root)
        return (rc, out) if "FAILED" in out else None

    rc, out = _wait_for(failed, 60, "the job to be FAILED in sacct")
    assert rc == 1
    log = re.search(r"log: (\S+)", out).group(1)
    assert log.endswith("_log.err") and Path(log).is_file()
    assert "error: ValueError: planted failure in demo/boom" in out


def test_cancel_all(run_root, capsys):
    rows = [submission.PlannedJob("train", "k-sleep", ["demo/sleep"], ("demo/sleep", (), str(run_root), 1, False)),
            submission.PlannedJob("eval", "k-sleep", ["demo/sleep"], (["demo/sleep"], (), str(run_root), False, None))]
    submission.submit_planned(rows, _profile(), run_root, train_fn=jobfns.sleepy_train, eval_fn=jobfns.quick_eval)
    capsys.readouterr()
    assert repro_main(["cancel", "--all", "--runs", str(run_root)]) == 0
    assert "cancelled" in capsys.readouterr().out

    def both_cancelled():
        _, out = _status(capsys, run_root)
        return out if out.count("CANCELLED") == 2 else None

    _wait_for(both_cancelled, 60, "train and eval jobs CANCELLED")


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unreachable_without_sbatch(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no scontrol
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(tmp_path)]) == 2
    err = _one_error_line(capsys)
    assert err.startswith("repro submit: error: SLURM not reachable: no `sbatch`"), err
    # --dry-run needs no cluster.
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--dry-run", "--runs", str(tmp_path)]) == 0
    assert "#SBATCH" in capsys.readouterr().out


def test_unreachable_controller_down(slurm_cluster, monkeypatch, capsys, tmp_path):
    # A copy of the live config whose controller port nobody listens on: a stopped controller.
    conf = tmp_path / "slurm.conf"
    text = slurm_cluster.slurm_conf.read_text()
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+", "SlurmctldPort=6899", text))
    monkeypatch.setenv("SLURM_CONF", str(conf))
    joblog.record_job(tmp_path, submission.PlannedJob("train", "k", ["r"], ()), type("H", (), {"job_id": "1", "num_tasks": 1})())
    for cmd in (["status"], ["cancel", "--all"], ["submit", "demo/digits/nfe1", "--smoke"]):
        assert repro_main([*cmd, "--runs", str(tmp_path)]) == 2
        err = _one_error_line(capsys)
        assert "SLURM not reachable: controller down" in err and str(conf) in err, err
