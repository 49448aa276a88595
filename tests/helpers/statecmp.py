"""Compare training states (model, EMA, optimiser) tensor by tensor, for the resume tests."""
import torch

PARTS = ("model", "ema", "optimizer")


def flatten_state(state, prefix=""):
    """{'a/b/0/': leaf} for nested dicts and lists; leaves are tensors or plain values."""
    out = {}
    if isinstance(state, dict):
        for k, v in state.items():
            out.update(flatten_state(v, f"{prefix}{k}/"))
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            out.update(flatten_state(v, f"{prefix}{i}/"))
    else:
        out[prefix] = state
    return out


def training_tensors(ckpt) -> dict:
    return flatten_state({k: ckpt[k] for k in PARTS})


def assert_bitwise_equal(a, b) -> int:
    """Every leaf of two checkpoints' model/EMA/optimiser equal bit for bit; returns the tensor count."""
    fa, fb = training_tensors(a), training_tensors(b)
    assert fa.keys() == fb.keys()
    n = 0
    for k in fa:
        if isinstance(fa[k], torch.Tensor):
            n += 1
            assert fa[k].dtype == fb[k].dtype and torch.equal(fa[k], fb[k]), f"{k} differs"
        else:
            assert fa[k] == fb[k], k
    return n
