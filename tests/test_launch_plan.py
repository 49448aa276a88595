"""repro.launch without a cluster: planning, dry-run sbatch files, the job log, errors, and the
checkpoint-request protocol of TrainJob (driven by a real signal in this process)."""
import os
import signal
import threading
import time

import pytest
import submitit

from repro.cli import main as repro_main
from repro.io import ReproError
from repro.launch import executors, joblog, jobstates, slurm, submission
from repro.launch.profiles import load_profile


@pytest.fixture
def no_slurm(monkeypatch, tmp_path):
    """PATH without sbatch/scontrol."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path


def test_dry_run_groups_by_training_key_and_needs_no_cluster(no_slurm, capsys):
    runs = no_slurm / "runs"
    assert repro_main(["submit", "demo/digits/*", "--smoke", "--dry-run", "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "1 training job(s)" in out
    assert "rows demo/digits/nfe1, demo/digits/nfe2" in out
    assert "#SBATCH --partition=debug" in out and "#SBATCH --signal=USR2@30" in out
    assert "#SBATCH --dependency='afterok:<train job>'" in out and "--kill-on-invalid-dep=yes" in out
    assert not runs.exists(), "a dry run writes nothing"


def test_dry_run_multinode_profile(no_slurm, capsys):
    assert repro_main(["submit", "ict/cifar10/*", "--dry-run", "--profile", "example-h100-multinode",
                       "--runs", str(no_slurm / "runs")]) == 0
    out = capsys.readouterr().out
    train_file = out.split("--- sbatch file of the training array ---")[1].split("---")[0]
    for line in ("--nodes=4", "--ntasks-per-node=8", "--gpus-per-node=8", "--array=0-1%1", "--account=my-lab",
                 "--qos=high", "--signal=USR2@300", "module load cuda/12.4"):
        assert line in train_file, line
    eval_file = out.split("--- sbatch file of an evaluation job ---")[1]
    assert "--gpus-per-node=1" in eval_file and "--nodes=1" in eval_file and "--ntasks-per-node=1" in eval_file


def test_submit_without_sbatch_is_one_line_error(no_slurm, capsys):
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(no_slurm)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SLURM not reachable: no `sbatch`" in err
    with pytest.raises(ReproError):
        jobstates.check_slurm()


def test_joblog_roundtrip_and_torn_line(tmp_path):
    handle = type("H", (), {"job_id": "42_1", "num_tasks": 2})()
    joblog.record_job(tmp_path, submission.PlannedJob("train", "abc", ["a", "b"], ()), handle)
    joblog.record_job(tmp_path, submission.PlannedJob("eval", "abc", ["a", "b"], (), depends_on="42_1"), handle)
    jobs = joblog.load_jobs(tmp_path)
    assert [(j["kind"], j["job_id"], j["tasks"], j["depends_on"]) for j in jobs] == \
        [("train", "42_1", 2, None), ("eval", "42_1", 2, "42_1")]
    assert jobs[0]["folder"].endswith("slurm/%j")
    with open(joblog.joblog_path(tmp_path), "a") as f:
        f.write('{"job_id": "4')
    with pytest.raises(ReproError, match="jobs.jsonl:3"):
        joblog.load_jobs(tmp_path)


def test_last_error_line(tmp_path):
    p = tmp_path / "x_log.err"
    p.write_text("Traceback (most recent call last):\n  File 'x'\nValueError: boom\n"
                 "submitit ERROR - job failed\nsrun: error: vm: task 0: Exited with exit code 1\n")
    assert jobstates.last_error_line(p) == "ValueError: boom"
    assert jobstates.last_error_line(tmp_path / "missing") == ""


# A training loop that follows the protocol (this module is TrainJob's `hooks`).
_requested, _saved = threading.Event(), threading.Event()
_state = {}


def request_checkpoint():
    _saved.clear()
    _requested.set()


def wait_checkpoint_saved(timeout):
    return _saved.wait(timeout)


class CheckpointRequested(Exception):
    pass


def _loop(row_id, overrides, run_root, max_steps, smoke):
    step = _state.get("step", 0)
    while step < max_steps:
        time.sleep(0.01)
        step += 1
        if _requested.is_set():
            _state["step"] = step
            _requested.clear()
            _saved.set()
            raise CheckpointRequested()
    return step


def test_trainjob_runs_fn_and_propagates_errors():
    job = slurm.TrainJob(lambda *a: a, hooks=__name__)
    assert job("r", ["x=1"], "runs", 3, True) == ("r", ("x=1",), "runs", 3, True)
    with pytest.raises(ZeroDivisionError):
        slurm.TrainJob(lambda *a: 1 / 0)("r")


def test_signal_in_main_thread_gets_checkpoint_saved_and_same_call_back():
    """As in a job: the signal handler (main thread) calls checkpoint() while the loop runs."""
    _state.clear()
    job = slurm.TrainJob(_loop, hooks=__name__, checkpoint_wait_s=10)
    got = {}

    class Requeued(BaseException):
        pass

    def handler(signum, frame):  # what submitit's handler does, minus `scontrol requeue`
        got["delayed"] = job.checkpoint("row", (), "runs", 200, False)
        raise Requeued

    old = signal.signal(signal.SIGUSR2, handler)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR2)).start()
        with pytest.raises(Requeued):
            job("row", (), "runs", 200, False)
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert 0 < _state["step"] < 200, "the loop saved mid-run, on request"
    d = got["delayed"]
    assert isinstance(d, submitit.helpers.DelayedSubmission) and d.function is job
    assert d.args == ("row", (), "runs", 200, False)
    # Resubmitted, it resumes from the saved step and finishes.
    assert d.function(*d.args) == 200


def test_checkpoint_without_hooks_still_requeues():
    job = slurm.TrainJob(lambda *a: None, hooks="no_such_module_xyz")
    d = job.checkpoint("r", max_steps=5)
    assert d.args == ("r",) and d.kwargs == {"max_steps": 5}


def test_eval_parameters_use_one_gpu_one_node():
    prof = load_profile("example-a100")
    p = executors.executor_parameters(prof, "eval", dependency="afterok:7")
    assert (p["nodes"], p["tasks_per_node"], p["gpus_per_node"]) == (1, 1, 1)
    assert p["slurm_additional_parameters"] == {"dependency": "afterok:7", "kill_on_invalid_dep": "yes"}
    t = executors.executor_parameters(prof, "train")
    assert (t["tasks_per_node"], t["gpus_per_node"], t["slurm_constraint"]) == (8, 8, "a100-80gb")
