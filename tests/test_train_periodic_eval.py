"""The in-training metric must not change training: the final state is bit-identical with it on
or off, and metrics.jsonl gets one metric line per evaluation step."""
import json

import pytest
import torch

from repro.io import safe_torch_load
from repro.rows import load_row
from repro.train import train_row
from repro.train.checkpoint import checkpoints
from helpers.statecmp import assert_bitwise_equal

STEPS = 6
# The demo recipe (OT coupling, diffusion term, adaptive c, RAdam, EMA) shrunk; dropout on, so a
# scorer that moved the global RNG would change the masks of later steps.
OVERRIDES = ["ModelSpec.model_channels=16", "TrainSpec.batch_size=32", "RuntimeSpec.ckpt_every=1000",
             "ModelSpec.dropout=0.1", "RuntimeSpec.eval_every=2", "RuntimeSpec.eval_num=24"]


def _row():
    return load_row("demo/digits/nfe1", overrides=OVERRIDES)


def _final(run_dir):
    return safe_torch_load(checkpoints(run_dir)[0])


def _metric_lines(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x for x in lines if "metric" in x]


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    """The run with the metric off, trained once for both comparisons."""
    run = tmp_path_factory.mktemp("periodic") / "off"
    train_row(_row(), run, max_steps=STEPS, progress=False, device="cpu")
    return run


def test_metric_on_or_off_same_state(tmp_path, off):
    from repro.launch.in_training import metric_callback

    row = _row()
    cb = metric_callback(row, tmp_path / "on", device="cpu")
    assert cb is not None
    train_row(row, tmp_path / "on", max_steps=STEPS, progress=False, device="cpu", on_eval=cb)
    a, b = _final(off), _final(tmp_path / "on")
    assert a["step"] == b["step"] == STEPS
    assert assert_bitwise_equal(a, b) > 20
    lines = _metric_lines(tmp_path / "on")
    assert [x["step"] for x in lines] == [0, 2, 4, 6]
    assert all(x["metric_name"] == "w2_pixels" and x["metric_num"] == 24 for x in lines)
    assert all(x["metric"] > 0 and x["eval_s"] >= 0 for x in lines)
    assert not _metric_lines(off)


def test_a_meddling_scorer_cannot_change_training(tmp_path, off):
    """A scorer that draws from the global RNG, flips the model to train mode and writes into its
    weights still leaves training bit-identical: it only ever sees a copy, inside fork_rng."""
    seen = []

    def meddle(step, model):
        seen.append((step, model.training, all(not p.requires_grad for p in model.parameters())))
        torch.rand(1000)
        model.train()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return {"metric": float(step), "metric_name": "x", "metric_num": 0}

    train_row(_row(), tmp_path / "on", max_steps=STEPS, progress=False, device="cpu", on_eval=meddle)
    assert_bitwise_equal(_final(off), _final(tmp_path / "on"))
    # each call starts from the EMA weights in eval mode, whatever the last call did to the copy
    assert seen == [(s, False, True) for s in (0, 2, 4, 6)]
