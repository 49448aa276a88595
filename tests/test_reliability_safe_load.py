"""Safe loading: a checkpoint whose pickle would run code is refused (nothing runs), and no code
path loads pickles from user files except through weights_only / the CIFAR restricted reader.
Plus the divergence guard: a forced loss spike is reported, a forced NaN stops the run."""
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import torch

from repro.cli import main

REPO = Path(__file__).resolve().parent.parent


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _evil_checkpoint(path, marker):
    buf = io.BytesIO()
    torch.save({"model": {}, "step": 5, "payload": _Evil(str(marker))}, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(path)


def test_malicious_pickle_refused_as_ckpt_argument(isolated, capsys):
    marker = isolated / "PWNED"
    ckpt = isolated / "evil.pt"
    _evil_checkpoint(ckpt, marker)
    rc = main(["eval", "demo/digits/nfe1", "--ckpt", str(ckpt), "--no-record"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"{ckpt}: refused to load" in err
    assert not marker.exists()


def test_malicious_pickle_refused_as_run_checkpoint(isolated, capsys):
    from repro.rows import load_row
    from repro.train.checkpoint import load_latest
    marker = isolated / "PWNED"
    row = load_row("demo/digits/nfe1")
    run = isolated / "runs" / row.training_key
    evil = run / "ckpt" / "step-0000005.pt"
    _evil_checkpoint(evil, marker)
    # resume skips it with a warning naming the file and starts fresh; nothing ran
    state, path = load_latest(run, row.training_key)
    assert state is None and path is None
    assert str(evil) in capsys.readouterr().err
    # set aside under another name, not deleted, so it cannot be resumed from again
    aside = evil.with_name(evil.name + ".bad")
    assert aside.is_file() and not evil.exists()
    aside.rename(evil)
    rc = main(["eval", "demo/digits/nfe1", "--ckpt", str(evil), "--no-record"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and f"{evil}: refused to load" in err and len(err.splitlines()) == 1
    assert not marker.exists()


def test_no_unsafe_loads_in_repro():
    bad = []
    for p in sorted((REPO / "repro").rglob("*.py")):
        for i, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if "torch.load(" in code and "weights_only=True" not in code:
                bad.append(f"{p}:{i}: {line.strip()}")
            if re.search(r"\bpickle\.(load|loads)\(|\bUnpickler\(", code) or "allow_pickle=True" in code:
                bad.append(f"{p}:{i}: {line.strip()}")
            if re.search(r"\b(torch\.jit\.load|numpy\.load|np\.load)\(", code) and "allow_pickle=True" in code:
                bad.append(f"{p}:{i}: {line.strip()}")
    # the CIFAR reader's restricted unpickler is the one pickle reader, and it allows numpy only
    src = (REPO / "repro/data/readers_arrays.py").read_text()
    assert "class _NumpyOnlyUnpickler(pickle.Unpickler)" in src and "def find_class" in src
    assert not bad, "\n".join(bad)


def _train_with_forced_losses(run_dir, forced, steps, monkeypatch):
    """Train the tiny demo row with loss values replaced at some steps (after the real step)."""
    from repro.rows import load_row
    from repro.train import loop
    real = loop._make_step

    def make(*a, **k):
        fn = real(*a, **k)

        def step_fn(step, *args):
            loss = fn(step, *args)
            return torch.full_like(loss, forced[step]) if step in forced else loss
        step_fn.close = fn.close     # the loop shuts the step's OT worker down through it
        return step_fn
    monkeypatch.setattr(loop, "_make_step", make)
    row = load_row("demo/digits/nfe1", overrides=["ModelSpec.model_channels=8", "TrainSpec.batch_size=16",
                                                   "RuntimeSpec.log_every=5", "RuntimeSpec.ckpt_every=5",
                                                   "TrainSpec.total_steps=40"])
    return loop.train_row(row, run_dir, max_steps=steps, progress=False, device="cpu")


def test_loss_spike_reported_not_stopped(tmp_path, monkeypatch):
    from repro.train.loop import SPIKE_WARMUP
    at = SPIKE_WARMUP + 3
    _train_with_forced_losses(tmp_path, {at: 1e9}, at + 5, monkeypatch)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    warn = [x for x in lines if x.get("warning") == "loss spike"]
    assert len(warn) == 1 and warn[0]["spike_at_step"] == at and warn[0]["loss"] == 1e9
    assert warn[0]["running_mean"] > 0
    assert max(x["step"] for x in lines) == at + 5      # the run went on


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_at_boundary_naming_step(tmp_path, monkeypatch, value):
    from repro.io import ReproError
    with pytest.raises(ReproError) as e:
        _train_with_forced_losses(tmp_path, {7: value}, 20, monkeypatch)
    msg = str(e.value)
    assert "non-finite loss at step 7" in msg and "step-0000005.pt" in msg and "\n" not in msg
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["step-0000005.pt", "step-0000005.pt.sha256"]   # nothing saved at or after the bad step
