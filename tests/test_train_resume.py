"""Resume is bit-exact: 2k steps straight == k steps, restart in a new process, k more steps."""
import os
import subprocess
import sys

import torch

from repro.io import safe_torch_load
from helpers.statecmp import assert_bitwise_equal
from repro.train.checkpoint import checkpoints

K = 4
# The demo recipe (OT coupling, diffusion term, adaptive c, RAdam, EMA) made smaller and with a
# checkpoint only at the end, so nothing but the restart differs between the two runs.
OVERRIDES = ["ModelSpec.model_channels=16", "TrainSpec.batch_size=32", "RuntimeSpec.ckpt_every=1000",
             "ModelSpec.dropout=0.1"]


def _train(run_dir, steps):
    code = ("import sys; from repro.rows import load_row; from repro.train import train_row;"
            f"row = load_row('demo/digits/nfe1', overrides={OVERRIDES!r});"
            f"train_row(row, sys.argv[1], max_steps={steps}, progress=False)")
    subprocess.run([sys.executable, "-c", code, str(run_dir)], check=True, env={**os.environ})


def test_resume_is_bit_exact(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _train(straight, 2 * K)
    _train(resumed, K)
    assert int(checkpoints(resumed)[0].name[5:12]) == K
    _train(resumed, 2 * K)
    a = safe_torch_load(checkpoints(straight)[0])
    b = safe_torch_load(checkpoints(resumed)[0])
    assert a["step"] == b["step"] == 2 * K
    n_tensors = assert_bitwise_equal(a, b)
    assert n_tensors > 20
    # and training did move the weights
    init = safe_torch_load(checkpoints(resumed)[-1]) if len(checkpoints(resumed)) > 1 else None
    if init is not None:
        assert any(not torch.equal(init["model"][k], a["model"][k]) for k in a["model"])
