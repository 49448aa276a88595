"""Load a checkpoint for evaluation: the row's network with the EMA weights it evaluates."""
from __future__ import annotations

from pathlib import Path

import torch

from repro.io import ReproError
from repro.specs import Row
from repro.train.checkpoint import checkpoints, load_checkpoint


def resolve_ckpt(path) -> Path:
    """A checkpoint file, or a run directory (its newest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = checkpoints(path)
        if not found:
            raise ReproError(f"{path}: run directory has no checkpoints (ckpt/step-*.pt)")
        return found[0]
    return path


def load_for_eval(ckpt, row: Row, device="cpu", which: str = "ema") -> torch.nn.Module:
    """The consistency function of `row` with the weights of `ckpt` (EMA `row.eval.ema` by default)."""
    from repro.train.build import build_function

    path = resolve_ckpt(ckpt)
    state = load_checkpoint(path, row.training_key)
    f = build_function(row)
    weights = state["model"]
    if which == "ema":
        emas = state.get("ema", {})
        key = next((k for k in emas if abs(float(k) - row.eval.ema) < 1e-12), None)
        if key is None:
            raise ReproError(f"{path}: has no EMA {row.eval.ema} (it has {sorted(emas) or 'none'}); "
                             f"set EvalSpec.ema to one of them")
        weights = {**weights, **emas[key]}
    try:
        missing, unexpected = f.load_state_dict(weights, strict=False)
    except (RuntimeError, TypeError, AttributeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        if "size mismatch" in str(e):
            first = next((l.strip() for l in str(e).splitlines() if "size mismatch" in l), first)[:160]
        raise ReproError(f"{path}: weights do not fit the row's network ({first}); is it this row's "
                         f"checkpoint?") from None
    if unexpected or [m for m in missing if m in dict(f.named_parameters())]:
        raise ReproError(f"{path}: weights do not fit the row's network (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    return f.to(device).eval()


# Networks loaded for evaluation in this process, by (checkpoint path + sha256, device, row
# recipe, EMA): the rows that share a training are evaluated from one load. Two entries at most,
# so a sweep over checkpoints does not keep every network alive.
_LOADED: dict = {}
_SHAS: dict = {}
_KEEP = 2


def _sha(path: Path) -> str:
    from repro.io import sha256_file

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHAS:
        _SHAS[key] = sha256_file(path)
    return _SHAS[key]


def load_for_eval_cached(ckpt, row: Row, device="cpu") -> torch.nn.Module:
    """load_for_eval(ckpt, row, device) reused within the process while the file is unchanged.

    The network is only sampled in eval mode under no_grad, so sharing it between rows is safe."""
    path = resolve_ckpt(ckpt)
    key = (str(path.resolve()), _sha(path), str(torch.device(device)), row.training_key, float(row.eval.ema))
    if key not in _LOADED:
        while len(_LOADED) >= _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load_for_eval(path, row, device=device)
    return _LOADED[key]
