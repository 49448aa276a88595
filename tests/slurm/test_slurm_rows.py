"""The real training loop and evaluation on a real one-node SLURM (slurm/cluster.sh):

- a smoke row submitted with `repro submit` trains, is evaluated, and its result record is written;
- three rows, two of which share a training key, make two trainings (one array), the shared key
  trained once;
- a 2-task (gloo) data-parallel training equals a 1-process training of the same global batch;
- a training preempted mid-run (real preemption through the `high` partition, USR2 -> checkpoint
  on signal -> requeue -> resume) ends bit-identical to an uninterrupted run.

Reference runs are in-process `train_row` calls with 1 torch thread, the same as the jobs get
(`repro.launch.jobenv.limit_threads`: cpus_per_task=1), so thread-count-dependent reduction order cannot
differ between the two sides.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

import jobfns
from repro.cli import main as repro_main
from repro.io import safe_torch_load
from repro.launch import executors, joblog, jobstates, slurm, submission
from repro.launch.profiles import load_profile
from repro.rows import load_row
from repro.train.checkpoint import checkpoints
from helpers.statecmp import assert_bitwise_equal, training_tensors

pytestmark = pytest.mark.slurm

# Data-parallel vs 1 process: the gradients are all-reduced (gloo sums in another order than the
# 1-process backward does), so the states agree to float rounding, not bitwise. For every tensor
# of model, EMA and optimizer state: max |ddp - single| <= DDP_RTOL[part] * max |single|
# (+ DDP_ATOL for all-zero tensors); scaled by the tensor's largest entry, not elementwise (Adam's
# moments hold entries near 0 whose elementwise relative error means nothing). The optimizer's
# moments are gradients, i.e. sums over the batch with cancellation, so their rounding error is the
# largest; zero-initialised tensors (biases) are only the 5 updates, so they inherit part of it.
# Observed on a 2-core x86 container (5 steps): model 5.3e-6, EMA 3.0e-6, optimizer 2.5e-5.
DDP_RTOL = {"model": 5e-5, "ema": 5e-5, "optimizer": 2e-4}
DDP_ATOL = 1e-8


def _wait_for(pred, timeout, what, every=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _job(entry_or_folder, job_id=None, tasks=1):
    from submitit.slurm.slurm import SlurmJob

    if isinstance(entry_or_folder, dict):
        return jobstates._job_handle(entry_or_folder)
    return SlurmJob(folder=entry_or_folder, job_id=job_id, tasks=range(tasks))


def _finish(job, timeout):
    """job.result() with a timeout; on failure the job's stderr tail is in the assertion."""
    try:
        _wait_for(lambda: job.done(), timeout, f"job {job.job_id} to finish")
        return job.results() if job.num_tasks > 1 else job.result()
    except Exception as e:
        tail = ""
        with contextlib.suppress(OSError):
            tail = Path(job.paths.stderr).read_text(errors="replace")[-3000:]
        raise AssertionError(f"job {job.job_id}: {type(e).__name__}: {str(e)[:2000]}\n--- stderr tail:\n{tail}") from None


@contextlib.contextmanager
def _threads(n):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _reference(row, max_steps=None) -> dict:
    """An uninterrupted 1-process run of `row` in this process: its final checkpoint."""
    from repro.train import train_row

    with _threads(1), tempfile.TemporaryDirectory(prefix="ref-") as d:
        train_row(row, d, max_steps=max_steps, progress=False, device="cpu")
        return safe_torch_load(checkpoints(d)[0])




def _metric_steps(run_dir) -> list[int]:
    p = Path(run_dir) / "metrics.jsonl"
    out = []
    for line in (p.read_text().splitlines() if p.exists() else []):
        with contextlib.suppress(ValueError, KeyError, TypeError):  # a line being appended right now
            rec = json.loads(line)
            if "warning" not in rec:  # loss-spike warnings repeat their step
                out.append(rec["step"])
    return out


# ---------------------------------------------------------------------------------------------


def test_submit_smoke_row_trains_evaluates_and_records(run_root, monkeypatch, capsys):
    from repro.results.records import load_records, read_record

    tables = Path(run_root) / "tables"
    monkeypatch.setenv("REPRO_TABLES", str(tables))  # sbatch passes the environment to the jobs
    rc = repro_main(["submit", "demo/digits/nfe1", "--smoke", "--profile", "local", "--runs", str(run_root)])
    out = capsys.readouterr().out
    assert rc == 0, out
    reg = joblog.load_jobs(run_root)
    assert [e["kind"] for e in reg] == ["train", "eval"], reg
    train, ev = reg
    assert ev["depends_on"] == train["job_id"]
    # Submitted again while queued or running: nothing is queued twice.
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(run_root)]) == 0
    again = capsys.readouterr().out
    assert f"training job {train['job_id']} is" in again and f"evaluation job {ev['job_id']} is" in again, again
    assert "nothing to submit" in again and joblog.load_jobs(run_root) == reg
    run_dir = _finish(_job(train), 240)
    res = _finish(_job(ev), 240)
    row = load_row("demo/digits/nfe1", smoke=True)
    assert Path(run_dir) == Path(run_root) / row.training_key
    assert [r["row"] for r in res] == ["demo/digits/nfe1"]
    # a smoke record lands beside its run, never in the registry
    path = Path(run_dir) / "eval" / "demo__digits__nfe1" / "record.json"
    assert str(path) == res[0]["record"], res
    assert len(load_records(tables)) == 0
    rec = read_record(path)  # validates the record (raises naming an invalid one)
    assert rec["row"] == "demo/digits/nfe1" and rec["training_key"] == row.training_key
    assert rec["training"]["steps"] == row.total_steps == 2
    assert rec["row_args"]["smoke"] is True
    assert rec["ours"]["w2_pixels"] == res[0]["metrics"]["w2_pixels"]
    assert Path(rec["checkpoint"]["path"]).parent == Path(run_dir) / "ckpt"
    assert rec["slurm"]["train"]["job_ids"] == [train["job_id"]] and rec["slurm"]["train"]["requeues"] == 0
    assert rec["slurm"]["eval"]["job_id"] == ev["job_id"] and rec["slurm"]["eval"]["nodes"]

    def completed():
        rc = repro_main(["status", "--runs", str(run_root)])
        out = capsys.readouterr().out
        return out if rc == 0 and out.count("COMPLETED") == 2 else None

    _wait_for(completed, 60, "train and eval COMPLETED in `repro status`")
    # Submitted again once done: trained, and its record is current for this commit: nothing queued.
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(run_root)]) == 0
    again = capsys.readouterr().out
    assert f"key {row.training_key}: trained" in again and f"{path} is current" in again, again
    assert "nothing to submit" in again and joblog.load_jobs(run_root) == reg


def test_failed_training_shows_error_and_cancels_its_evaluation(run_root, capsys):
    # The run dir holds a checkpoint written under another training key: train_row refuses to
    # resume from it inside the job. The evaluation (afterok + kill-on-invalid-dep) must not wait
    # forever.
    from repro.train.checkpoint import save_checkpoint

    row = load_row("demo/digits/nfe1", smoke=True)
    save_checkpoint(Path(run_root) / row.training_key, dict(step=1, model={"w": torch.zeros(1)}, optimizer={},
                                                           ema={}, training_key="0" * 12))
    rc = repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(run_root)])
    assert rc == 0
    capsys.readouterr()

    def settled():
        rc = repro_main(["status", "--runs", str(run_root)])
        out = capsys.readouterr().out
        return (rc, out) if "FAILED" in out and "CANCELLED" in out else None

    rc, out = _wait_for(settled, 180, "training FAILED and evaluation CANCELLED in `repro status`", every=2)
    assert rc == 1
    train_line, = [ln for ln in out.splitlines() if " train " in ln]
    eval_line, = [ln for ln in out.splitlines() if " eval " in ln]
    assert "FAILED" in train_line and "CANCELLED" in eval_line, out
    log = re.search(r"log: (\S+)", out).group(1)
    assert log.endswith("_log.err") and Path(log).is_file()
    assert f"step-0000001.pt: written under training key {'0' * 12}, not {row.training_key}" in out, out
    assert re.search(r"error: \S*ReproError: ", out), out


def test_three_rows_two_keys_two_trainings_in_one_array(run_root):
    ids = ("demo/digits/nfe1", "demo/digits/nfe2", "slct/t2d/gn")
    rows = [load_row(r, smoke=True) for r in ids]
    keys = [r.training_key for r in rows]
    assert keys[0] == keys[1] != keys[2]
    plan = submission.plan_jobs(rows, run_root, smoke=True)
    # The sLCT row's evaluation needs Inception weights (offline here): trainings only.
    submission.submit_planned(plan, load_profile("local"), run_root, evaluate=False, log=lambda *a: None)
    reg = joblog.load_jobs(run_root)
    assert [(e["kind"], e["training_key"], e["rows"]) for e in reg] == [
        ("train", keys[0], list(ids[:2])), ("train", keys[2], [ids[2]])]
    array_ids = {e["job_id"].split("_")[0] for e in reg}
    assert len(array_ids) == 1 and all("_" in e["job_id"] for e in reg), "one job array of 2 tasks"
    done = [_finish(_job(e), 300) for e in reg]
    assert sorted(Path(d).name for d in done) == sorted({keys[0], keys[2]})
    run_dirs = sorted(p.name for p in Path(run_root).iterdir() if p.is_dir() and p.name != "slurm")
    assert run_dirs == sorted({keys[0], keys[2]}), "one run dir per training key"
    shared = Path(run_root) / keys[0]
    # Trained once: a single pass from step 0 (log_every=1 in smoke), one final checkpoint.
    assert _metric_steps(shared) == [1, 2]
    assert [p.name for p in checkpoints(shared)] == ["step-0000002.pt"]
    assert json.loads((shared / "row.json").read_text())["id"] == ids[0]


def test_initial_weights_do_not_depend_on_the_process_rng(tmp_path):
    """DDP ranks and the in-process references above rely on it: the init comes from the row's seed."""
    from repro.train import train_row

    row = load_row("demo/digits/nfe1", overrides=("RuntimeSpec.device='cpu'",), smoke=True)
    with _threads(1):
        train_row(row, tmp_path / "a", max_steps=1, progress=False)
        torch.rand(17)  # anything else the process did in between
        train_row(row, tmp_path / "b", max_steps=1, progress=False)
    a, b = (safe_torch_load(checkpoints(tmp_path / d)[0])["model"] for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


DDP_OVERRIDES = (
    "LossSpec.coupling='none'",   # OT pairs within each rank's slice: differs from whole-batch OT by design
    "LossSpec.diff_r=0.0",        # the diffusion term is a mean over each rank's selected samples: same
    "TrainSpec.batch_size=8",     # 2 x 4 per rank
    "TrainSpec.total_steps=5",
    "RuntimeSpec.ckpt_every=1000",
    "RuntimeSpec.device='cpu'",   # the reference runs on the CPU, on a GPU machine too
)


def test_two_task_ddp_equals_one_process(run_root):
    row = load_row("demo/digits/nfe1", overrides=DDP_OVERRIDES, smoke=True)
    assert row.model.dropout == 0.0 and row.loss.coupling == "none" and row.total_steps == 5
    ex = executors.make_executor(load_profile("local"), joblog.slurm_folder(run_root), name="ddp",
                              tasks_per_node=2, cpus_per_task=1)
    job = ex.submit(slurm.TrainJob(), row.id, DDP_OVERRIDES, str(run_root), None, True)
    ref = _reference(row)  # meanwhile, the 1-process run of the same global batch
    dirs = _finish(job, 300)
    assert len(dirs) == 2 and len(set(dirs)) == 1
    ddp = safe_torch_load(checkpoints(dirs[0])[0])
    assert ddp["step"] == ref["step"] == 5 and ddp["world"] == 2 and ref["world"] == 1
    a, b = training_tensors(ddp), training_tensors(ref)
    assert a.keys() == b.keys()
    worst, n, bad = {"model": 0.0, "ema": 0.0, "optimizer": 0.0}, 0, []
    for k in a:
        if not isinstance(a[k], torch.Tensor):
            assert a[k] == b[k], k
            continue
        n += 1
        group = k.split("/")[0]
        x, y = a[k].double(), b[k].double()
        diff, scale = float((x - y).abs().max()), float(y.abs().max())
        rel = diff / scale if scale > 0 else diff
        worst[group] = max(worst[group], rel)
        if diff > DDP_RTOL[group] * scale + DDP_ATOL:
            bad.append(f"{k}: max |ddp - single| = {diff:.3g}, max |single| = {scale:.3g}")
    print(f"\nDDP vs 1 process: {n} tensors; max |ddp - single| / max |single| per tensor: "
          + ", ".join(f"{g} {v:.3g}" for g, v in worst.items()))
    assert not bad, "\n".join(bad)
    assert n > 50


PREEMPT_STEPS = 200
PREEMPT_OVERRIDES = (
    f"TrainSpec.total_steps={PREEMPT_STEPS}",
    "RuntimeSpec.ckpt_every=100000",  # no periodic checkpoint: only the signal's and the final one
    "RuntimeSpec.log_every=5",
    "ModelSpec.model_channels=8",
    "ModelSpec.channels_per_head=8",
    "RuntimeSpec.device='cpu'",
)


def _sacct_runs(job_id) -> list[str]:
    p = subprocess.run(["sacct", "-D", "-X", "-n", "-P", "-j", str(job_id), "-o", "JobID,State"],
                       capture_output=True, text=True, timeout=30)
    return [ln for ln in p.stdout.splitlines() if ln.strip()]


def test_preempted_training_resumes_bit_exact(run_root):
    prof = load_profile("local")
    folder = joblog.slurm_folder(run_root)
    row = load_row("demo/digits/nfe1", overrides=PREEMPT_OVERRIDES, smoke=True)
    ex = executors.make_executor(prof, folder, name="victim")  # 1 CPU of the node's 2
    job = ex.submit(slurm.TrainJob(checkpoint_wait_s=prof.checkpoint_wait_s),
                    row.id, PREEMPT_OVERRIDES, str(run_root), None, True)
    run_dir = Path(run_root) / row.training_key
    _wait_for(lambda: any(s >= 20 for s in _metric_steps(run_dir)), 180, "the victim to reach step 20")
    # A `high` job asking for the whole node can only run by preempting the victim (GraceTime
    # preemption: USR2 -> request_checkpoint -> save after the current step -> requeue).
    hx = executors.make_executor(prof, folder, name="preemptor", slurm_partition="high", cpus_per_task=2)
    assert _finish(hx.submit(jobfns.add, 1, 1), 120) == 2
    at_preemption = max(_metric_steps(run_dir))
    ref = _reference(row)  # the uninterrupted run, while the victim waits and resumes
    _finish(job, 300)
    final = safe_torch_load(checkpoints(run_dir)[0])
    assert final["step"] == ref["step"] == PREEMPT_STEPS
    # It really restarted: a checkpoint from the signal, mid-run, survives next to the final one
    # (no periodic ones), the metrics never repeat a step, and sacct lists 2+ runs of the job.
    ck_steps = sorted(int(p.name[5:12]) for p in checkpoints(run_dir))
    assert len(ck_steps) == 2 and 20 <= ck_steps[0] < PREEMPT_STEPS, ck_steps
    steps = _metric_steps(run_dir)
    assert steps == sorted(set(steps)) and steps[-1] == PREEMPT_STEPS, steps
    runs = _wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(_sacct_runs(job.job_id)), 30,
                     "sacct to list the requeued run")
    print(f"\npreempted at metrics step {at_preemption}, signal checkpoint at step {ck_steps[0]}; "
          f"sacct runs: {runs}")
    assert assert_bitwise_equal(final, ref) > 50   # preempted run == uninterrupted run


def test_killed_submit_is_completed_by_running_it_again(run_root, tmp_path, capsys):
    """`repro submit` killed right after its first sbatch (the training's): the job waits held,
    `repro status` already lists it, and the same command run again records it, submits the
    evaluation after it, and releases both: one training, one evaluation."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sbatch").write_text(
        "#!/bin/sh\n# the real sbatch; then, once, SIGKILL to its caller (repro submit)\n"
        f"'{shutil.which('sbatch')}' \"$@\"; rc=$?\n"
        f"if [ ! -e '{tmp_path}/killed' ]; then : > '{tmp_path}/killed'; kill -KILL $PPID; fi\nexit $rc\n")
    (shim / "sbatch").chmod(0o755)
    cmd = ["submit", "demo/digits/nfe1", "--smoke", "--runs", str(run_root)]
    p = subprocess.run([sys.executable, "-m", "repro.cli", *cmd], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}"))
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert [e.get("event") for e in joblog.load_journal(run_root)] == ["intent"], "killed before recording it"
    assert repro_main(["status", "--runs", str(run_root)]) == 0
    out = capsys.readouterr().out
    assert " train " in out and "held" in out and "interrupted `repro submit`" in out, out

    assert repro_main(cmd) == 0
    out = capsys.readouterr().out
    assert "of an interrupted `repro submit`" in out, out
    train, ev = joblog.load_jobs(run_root)
    assert (train["kind"], ev["kind"], ev["depends_on"]) == ("train", "eval", train["job_id"])
    res = _finish(_job(ev), 300)
    assert [r["row"] for r in res] == ["demo/digits/nfe1"] and Path(res[0]["record"]).is_file()
    assert not list((joblog.slurm_folder(run_root) / "pending").iterdir()), "no stray pickles"

    def both_completed():
        rc = repro_main(["status", "--runs", str(run_root)])
        out = capsys.readouterr().out
        return out if rc == 0 and out.count("COMPLETED") == 2 else None

    out = _wait_for(both_completed, 60, "train and eval COMPLETED in `repro status`")
    assert "held" not in out and out.count(" train ") == 1 and out.count(" eval ") == 1, out
