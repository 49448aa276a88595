"""The loop solves step k+1's OT pairs on a host thread during step k (repro/train/ot_pairs.py):
the training is bit-identical to pairing inside the objective, ahead or not, in any step order."""
import threading

import pytest
import torch

from helpers.statecmp import assert_bitwise_equal
from repro.rows import load_row

OVERRIDES = ["ModelSpec.model_channels=16", "TrainSpec.batch_size=32", "ModelSpec.dropout=0.1", "LossSpec.diff_r=0.5"]


def _run(steps, ahead=True, host_pairs=True, micro=32, record=None, rank=0, world=1):
    """Train `steps` (a list of step numbers) with _make_step as train_row builds it; the state."""
    from repro.data import open_train_set
    from repro.nn.ema import EMA
    from repro.train import build
    from repro.train.loop import _make_step, _Order

    row = load_row("demo/digits/nfe1", overrides=OVERRIDES)
    data = open_train_set(row.data)
    torch.manual_seed(0)
    f = build.initial_function(row)
    opt = build.build_optimizer(row, f.parameters(), fused=False)
    ema = EMA(f, row.train.ema_rates)
    objective = build.build_objective(row)
    assert objective.permutation is not None
    if not host_pairs:
        objective.permutation = None              # the objective pairs inside its own call
    elif record is not None:
        inner = objective.permutation
        objective.permutation = lambda x0, z: (record.append(threading.current_thread().name), inner(x0, z))[1]
    local = row.train.batch_size // world
    order = _Order(len(data), row.train.batch_size, row.train.seed)
    step_fn = _make_step(row, f, f, opt, ema, objective, data, build.data_dim(data.shape), row.total_steps,
                         torch.device("cpu"), rank, world, local, micro)
    try:
        for k, s in enumerate(steps):
            nxt = steps[k + 1] if ahead and k + 1 < len(steps) else None
            step_fn(s, order.indices(s), None if nxt is None else order.indices(nxt))
    finally:
        step_fn.close()
    return {"model": f.state_dict(), "optimizer": opt.state_dict(), "ema": ema.state_dict()}


def test_pairs_ahead_on_a_thread_equal_pairs_in_the_objective():
    calls = []
    ahead = _run([0, 1, 2], record=calls)
    assert calls and set(calls) == {"ot-pairs_0"}      # solved on the worker, never on the caller
    assert len(calls) == 3                             # once per step: ahead, then used
    assert_bitwise_equal(ahead, _run([0, 1, 2], host_pairs=False))
    assert_bitwise_equal(ahead, _run([0, 1, 2], ahead=False))


def test_pairs_ahead_on_a_data_parallel_rank(monkeypatch):
    # Rank 1 of 2 pairs its own slice of the global batch; the all-reduce is left out (one
    # process), which changes both runs alike.
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda t: None)
    ahead = _run([0, 1, 2], rank=1, world=2, micro=16)
    assert_bitwise_equal(ahead, _run([0, 1, 2], host_pairs=False, rank=1, world=2, micro=16))
    assert not _bitwise_equal(ahead, _run([0, 1, 2], rank=0, world=2, micro=16))


@pytest.mark.slow
def test_pairs_ahead_with_accumulation_and_out_of_order_steps():
    # micro-batches take the whole batch's pairs; a step other than the one solved ahead (a jump,
    # as after a resume) discards the solved pairs and solves its own.
    steps = [0, 1, 5, 6]
    ref = _run(steps, host_pairs=False, micro=8)
    assert_bitwise_equal(ref, _run(steps, micro=8))
    assert not _bitwise_equal(ref, _run([0, 1, 4, 6], micro=8))   # the comparison can fail


def _bitwise_equal(a, b):
    try:
        assert_bitwise_equal(a, b)
    except AssertionError:
        return False
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pairs_from_cuda_noise_equal_ot_coupling():
    from repro.core.coupling import ot_coupling, ot_permutation
    from repro.train.ot_pairs import NextPairs

    g = torch.Generator(device="cuda").manual_seed(0)
    x0 = torch.randn(128, 4, 32, 32, device="cuda", generator=g)
    z = torch.randn(128, 4, 32, 32, device="cuda", generator=g)
    pairs = NextPairs(ot_permutation)
    try:
        zc = pairs.apply(z, pairs.submit(x0.cpu(), z))
    finally:
        pairs.close()
    assert torch.equal(zc, ot_coupling(x0, z))
