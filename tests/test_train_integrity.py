"""Checkpoint integrity (hash beside each checkpoint, step vs name, set-aside, pruning) and
signals that save (SIGTERM / SIGINT checkpoint after the current step)."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from repro.io import safe_torch_load
from repro.train.checkpoint import checkpoints, hash_path, load_latest, prune, save_checkpoint
from helpers.statecmp import assert_bitwise_equal

OVERRIDES = ["ModelSpec.model_channels=16", "TrainSpec.batch_size=32", "ModelSpec.dropout=0.1"]


def _train(run_dir, steps, extra=(), **kw):
    code = ("import sys; from repro.rows import load_row; from repro.train import train_row;"
            f"row = load_row('demo/digits/nfe1', overrides={OVERRIDES + list(extra)!r});"
            f"train_row(row, sys.argv[1], max_steps={steps}, progress=False)")
    return subprocess.run([sys.executable, "-c", code, str(run_dir)], env={**os.environ},
                          capture_output=True, text=True, **kw)


def _state(step, value=1.0):
    return {"step": step, "model": {"w": torch.full((3,), value)}, "training_key": "k"}


def test_hash_written_and_checked(tmp_path, capsys):
    p = save_checkpoint(tmp_path, _state(3))
    assert hash_path(p).read_text().split() == [__import__("repro.io", fromlist=["x"]).sha256_file(p), p.name]
    state, path = load_latest(tmp_path, "k")
    assert path == p and state["step"] == 3


def test_step_field_must_match_name(tmp_path, capsys):
    good = save_checkpoint(tmp_path, _state(2))
    forged = save_checkpoint(tmp_path, _state(5))
    # rewrite step-5's content with step 7 inside (and a matching hash: only the name check can catch it)
    forged.unlink()
    hash_path(forged).unlink()
    tmp = save_checkpoint(tmp_path / "x", _state(7))
    os.rename(tmp, forged)
    os.rename(hash_path(tmp), hash_path(forged))
    state, path = load_latest(tmp_path, "k")
    assert path == good
    err = capsys.readouterr().err
    assert "holds step 7 but is named for step 5" in err and "set aside" in err
    assert (forged.parent / (forged.name + ".bad")).is_file()      # renamed, not deleted


def test_prune_never_removes_newest_good(tmp_path):
    stray = tmp_path / "ckpt" / "step-9999999.pt"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not a checkpoint")
    for s in (1, 2, 3):
        newest = save_checkpoint(tmp_path, _state(s), keep=1)
    assert sorted(p.name for p in checkpoints(tmp_path)) == ["step-0000003.pt", "step-9999999.pt"]
    prune(tmp_path, newest, keep=1)
    assert newest.is_file()


@pytest.mark.slow
def test_bit_flip_resumes_from_previous_and_matches_uninterrupted(tmp_path):
    straight, flipped = tmp_path / "straight", tmp_path / "flipped"
    every = ["RuntimeSpec.ckpt_every=2", "RuntimeSpec.keep_ckpts=3"]
    assert _train(straight, 6, every).returncode == 0
    assert _train(flipped, 4, every).returncode == 0
    newest = checkpoints(flipped)[0]
    assert newest.name == "step-0000004.pt"
    data = bytearray(newest.read_bytes())
    # a bit in the tensor data (the largest stored blob sits in the middle of the archive)
    data[len(data) // 2] ^= 0x10
    newest.write_bytes(bytes(data))
    r = _train(flipped, 6, every)
    assert r.returncode == 0, r.stderr
    assert "step-0000004.pt" in r.stderr and "set aside" in r.stderr
    assert (newest.parent / "step-0000004.pt.bad").is_file()
    n = assert_bitwise_equal(safe_torch_load(checkpoints(straight)[0]), safe_torch_load(checkpoints(flipped)[0]))
    assert n > 20


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_after_current_step(tmp_path, sig):
    run = tmp_path / "run"
    env = {**os.environ, "REPRO_RUNS": str(tmp_path / "runs"), "REPRO_TABLES": str(tmp_path / "tables")}
    cmd = [sys.executable, "-m", "repro.cli", "train", "demo/digits/nfe1", "--runs", str(run), "--no-progress",
           "--set", "RuntimeSpec.ckpt_every=100000", "--set", "RuntimeSpec.log_every=1"]
    for o in OVERRIDES:
        cmd += ["--set", o]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = None
    deadline = time.time() + 120
    while time.time() < deadline:         # wait until a few steps are logged
        logs = list(run.rglob("metrics.jsonl"))
        if logs and len(logs[0].read_text().splitlines()) >= 2:
            log = logs[0]
            break
        time.sleep(0.2)
    assert log is not None, "training did not start"
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, err
    lines = [l for l in err.strip().splitlines() if l.startswith("repro train:")]
    assert len(lines) == 1 and "checkpoint:" in lines[0] and signal.Signals(sig).name in lines[0], err
    saved = checkpoints(log.parent)
    assert len(saved) == 1
    step = safe_torch_load(saved[0])["step"]
    logged = max(__import__("json").loads(l)["step"] for l in log.read_text().splitlines())
    assert step >= 2 and step == logged      # nothing trained after the checkpoint is lost
