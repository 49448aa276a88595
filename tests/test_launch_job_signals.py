"""Signals reaching a SLURM job at awkward moments, without a cluster (driven by real signals in
this process): before the training hooks are loaded, mid-training, after the work ended, in an
evaluation job, and before Python exists (the sbatch command's trap and jobstart). The same
paths on a real one-node SLURM: tests/slurm/test_slurm_signals.py."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from repro.launch import executors, slurm
from repro.launch.profiles import load_profile


def test_issue_reproduction_hooks_inside_a_handler_during_import_torch():
    """A handler that asks TrainJob for its hooks while `import torch` runs: nothing is imported
    inside the handler, so the import finishes and the process exits cleanly."""
    code = textwrap.dedent("""
        import signal, os, threading
        from repro.launch import TrainJob
        got = []
        signal.signal(signal.SIGUSR2, lambda s, f: got.append(TrainJob()._hooks()))
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGUSR2)).start()
        import torch
        import time
        time.sleep(0.5)
        assert got == [(None, None)], got
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_checkpoint_before_the_hooks_are_loaded_imports_nothing():
    name = "repro_hooks_never_imported_xyz"
    assert name not in sys.modules
    d = slurm.TrainJob(lambda *a: None, hooks=name).checkpoint("r", (), "runs", 3, True)
    assert d.args == ("r", (), "runs", 3, True) and name not in sys.modules


class Requeued(BaseException):
    pass


def _run_with_signal(job, delay, args, handler_calls):
    """Call the job with a stand-in for submitit's handler installed, and USR2 after `delay` s."""
    def submitit_handler(signum, frame):   # what submitit does, minus `scontrol requeue`
        handler_calls.append((time.monotonic(), job.checkpoint(*args)))
        raise Requeued

    old = signal.signal(signal.SIGUSR2, submitit_handler)
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGUSR2))
    try:
        timer.start()
        t0 = time.monotonic()
        try:
            return job(*args), t0
        except Requeued:
            return Requeued, t0
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, old)


def test_signal_after_the_work_ended_completes_without_requeue(monkeypatch):
    monkeypatch.setenv("REPRO_TEST_JOB_PAUSE", "done@0=20")   # held after the work, until the signal

    def train(*args):
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR2)).start()   # lands after the return
        return "trained"

    calls = []
    result, t0 = _run_with_signal(slurm.TrainJob(train, hooks=__name__), 60, ("row", (), "runs", 3, False), calls)
    assert result == "trained" and calls == [], "finished work is never requeued"
    assert time.monotonic() - t0 < 15, "the pause ended when the signal came"


def test_signal_before_the_hooks_requeues_at_once(monkeypatch):
    monkeypatch.setenv("REPRO_TEST_JOB_PAUSE", "imports@0=5")
    calls = []
    job = slurm.TrainJob(lambda *a: "trained", hooks=__name__, checkpoint_wait_s=30)
    result, t0 = _run_with_signal(job, 0.3, ("row", (), "runs", 3, False), calls)
    assert result is Requeued and len(calls) == 1
    assert calls[0][0] - t0 < 3, "no save to wait for: requeued without waiting checkpoint_wait_s"
    assert calls[0][1].args == ("row", (), "runs", 3, False)


# A training loop following the checkpoint-request protocol (this module is the jobs' `hooks`).
_requested, _saved = threading.Event(), threading.Event()


def request_checkpoint():
    _saved.clear()
    _requested.set()


def wait_checkpoint_saved(timeout):
    return _saved.wait(timeout)


def _loop(row_id, overrides, run_root, max_steps, smoke):
    for step in range(1, max_steps + 1):
        time.sleep(0.01)
        if _requested.is_set():
            _requested.clear()
            _saved.set()
            raise RuntimeError(f"stopped at {step} for the checkpoint")
    return max_steps


def test_signal_mid_training_saves_then_requeues():
    calls = []
    job = slurm.TrainJob(_loop, hooks=__name__, checkpoint_wait_s=10)
    result, t0 = _run_with_signal(job, 0.5, ("row", (), "runs", 10_000, False), calls)
    assert result is Requeued and len(calls) == 1 and _saved.is_set()


def test_evaluation_job_ignores_the_signal_in_a_job(monkeypatch):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    old = signal.getsignal(signal.SIGUSR2)
    try:
        out = slurm.EvalJob(lambda ids, *a: (os.kill(os.getpid(), signal.SIGUSR2), time.sleep(0.2), ids)[2])(["r"])
        assert out == ["r"] and signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_jobs_start_with_the_signal_held_back(tmp_path):
    """The sbatch command: the shell ignores USR2 before Python exists; jobstart turns that into
    blocked-and-pending, so a signal sent meanwhile reaches the handler installed later."""
    text = executors.sbatch_text(executors.make_executor(load_profile("local"), tmp_path, "train", dry_run=True))
    srun = next(ln for ln in text.splitlines() if ln.startswith("srun "))
    assert "/bin/sh -c 'trap \"\" USR2; exec \"$@\"' repro-job " in srun and "-m repro.launch.jobstart" in srun
    code = textwrap.dedent("""
        import os, signal, sys
        from repro.launch import jobstart
        sig = jobstart.preemption_signal()
        assert signal.getsignal(sig) == signal.SIG_IGN      # from the shell's trap
        signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)                           # before any handler: kept pending
        assert sig in signal.sigpending()
        got = []
        signal.signal(sig, lambda s, f: got.append(s))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})   # what TrainJob does
        assert got == [sig], got
        print("delivered")
    """)
    p = subprocess.run(["/bin/sh", "-c", 'trap "" USR2; exec "$@"', "x", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "delivered", p.stderr
