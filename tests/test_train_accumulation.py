"""Gradient accumulation keeps the math: with RuntimeSpec.micro_batch the OT pairs and the
diffusion-term mean are computed over the whole per-process batch, so an accumulated step has the
gradient of one pass over the batch (to fp32 rounding)."""
import torch

from repro.rows import load_row

# The demo recipe (OT coupling, diffusion term) at a small width, without dropout (its masks are
# drawn per forward call, so they would differ between one pass and four by construction).
OVERRIDES = ["ModelSpec.model_channels=16", "TrainSpec.batch_size=32", "ModelSpec.dropout=0.0",
             "LossSpec.diff_r=0.5"]


def _grads(micro, dtype=torch.float32):
    from repro.data import open_train_set
    from repro.nn.ema import EMA
    from repro.train import build
    from repro.train.loop import _make_step, _Order

    row = load_row("demo/digits/nfe1", overrides=OVERRIDES)
    assert row.loss.coupling == "ot" and row.loss.diff_r > 0
    data = open_train_set(row.data)
    torch.manual_seed(0)
    f = build.initial_function(row).to(dtype)
    opt = torch.optim.SGD(f.parameters(), lr=0.0)
    objective = build.build_objective(row)
    dim = build.data_dim(data.shape)
    local = row.train.batch_size
    step = _make_step(row, f, f, opt, EMA(f, row.train.ema_rates), objective, data, dim, row.total_steps,
                      torch.device("cpu"), 0, 1, local, micro)
    # The float64 reference: the network's fp32 constants (noise embedding) are cast on the way in.
    hook = None if dtype == torch.float32 else torch.nn.modules.module.register_module_forward_pre_hook(
        lambda m, args: tuple(a.to(dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args))
    try:
        step(3, _Order(len(data), local, row.train.seed).indices(3))
    finally:
        if hook is not None:
            hook.remove()
    return torch.cat([p.grad.double().flatten() for p in f.parameters() if p.grad is not None])


class _PerSlice:
    """An objective without whole_batch(): each micro-batch pairs and averages on its own."""

    def __init__(self, inner):
        self._inner = inner

    def draw(self, *a, **k):
        return self._inner.draw(*a, **k)

    def __call__(self, *a, **k):
        return self._inner(*a, **k)


def test_accumulated_step_has_the_whole_batch_gradient(monkeypatch):
    full = _grads(32)
    acc = _grads(8)
    ref = _grads(32, torch.float64)
    rounding = (full - ref).norm()       # how far fp32 rounding moves this gradient
    assert rounding > 0
    assert (acc - full).norm() <= 4 * rounding, ((acc - full).norm(), rounding)
    # The check can fail: pairing and averaging per micro-batch (the old accumulation) is far off.
    from repro.train import build
    real = build.build_objective
    monkeypatch.setattr(build, "build_objective", lambda row: _PerSlice(real(row)))
    per_slice = _grads(8)
    assert (per_slice - full).norm() > 100 * rounding
