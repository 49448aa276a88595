"""Factories from specs to torch objects: the consistency function, optimiser, objective, c(N)."""
from __future__ import annotations

import math

import torch

from repro.core.curricula import C_KINDS, CURRICULA
from repro.core.precond import Consistency, Denoiser
from repro.core.registry import Registry
from repro.io import ReproError
from repro.specs import Row

# (params, kw, foreach, fused) -> optimiser; kw holds lr, betas, eps, weight_decay.
OPTIMIZERS = Registry("optimiser", binding="OptimSpec.name")


@OPTIMIZERS.register("radam")
def _radam(params, kw, foreach: bool, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.RAdam(params, foreach=foreach, **kw)  # torch has no fused RAdam


@OPTIMIZERS.register("adam")
def _adam(params, kw, foreach: bool, fused: bool) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, fused=True, **kw) if fused else torch.optim.Adam(params, foreach=foreach, **kw)


def build_function(row: Row) -> torch.nn.Module:
    """F_θ from repro.nn wrapped by the CM parameterisation (or EDM's, for the diffusion baseline)."""
    from repro.nn import build_network

    net = build_network(row.model)
    if row.loss.objective == "diffusion":
        return Denoiser(net, sigma_data=row.loss.sigma_data)
    return Consistency(net, sigma_data=row.loss.sigma_data, sigma_min=row.loss.sigma_min)


def initial_function(row: Row) -> torch.nn.Module:
    """The network as training starts it: weights drawn from the row's seed, not from whatever the
    process's global RNG holds, so every DDP rank starts alike, a run does not depend on what ran
    before it in the process, and the demo's '_untrained' baseline is exactly this init."""
    torch.manual_seed(row.train.seed)
    return build_function(row)


def build_optimizer(row: Row, params, fused: bool = False) -> torch.optim.Optimizer:
    o = row.optim
    kw = dict(lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    # foreach (multi-tensor) on CUDA, where it saves kernel launches; fused kernels exist only on
    # CUDA (torch has none for RAdam). On CPU the per-tensor loop is faster for big models (foreach
    # sweeps whole-model temporaries; benchmarks/train_step.py) and gives bit-identical updates.
    params = list(params)
    return OPTIMIZERS[o.name](params, kw, foreach=any(p.is_cuda for p in params), fused=fused)


def build_objective(row: Row):
    """The objective of `row.loss` (repro.core.objective.OBJECTIVES); E-LatentLPIPS gets its network."""
    from repro.core.objective import build_loss

    loss = build_loss(row.loss)
    if row.loss.distance == "e_latent_lpips":
        from functools import partial

        from repro.core.distances import e_latent_lpips

        loss.distance = partial(e_latent_lpips, model=load_latent_lpips())
    return loss


def n_at(row: Row, step: int, total: int) -> int:
    """Discretisation points N(k) (iCT Sec. 3.4; sLCT eq. 10)."""
    cur = row.curriculum
    return CURRICULA[cur.kind](step, total, cur.s0, cur.s1)


def c_at(row: Row, n: int, dim: int) -> float:
    """Robust-metric scale c for N points and data dimension D (iCT Sec. 3.3; sLCT eq. 11)."""
    l = row.loss
    return C_KINDS[l.c_kind](n, dim, l.c_value, l.c_form, row.curriculum.s0)


def data_dim(shape) -> int:
    return int(math.prod(shape))


def load_latent_lpips(cache=None) -> torch.nn.Module:
    """The E-LatentLPIPS network with its weights from the asset cache (weights_only=True)."""
    from repro.core.distances import MissingDependencyError
    from repro.data.assets import require_asset
    from repro.io import safe_torch_load

    try:
        from repro.nn.latent_lpips import build_latent_lpips

        net = build_latent_lpips()
    except ImportError as e:
        raise MissingDependencyError(
            f"LossSpec.distance='e_latent_lpips' needs the package `elatentlpips` ({e}); it is "
            f"opt-in (CC-BY-NC licence): pip install -e '.[elpips]'") from None
    state = safe_torch_load(require_asset("elatentlpips-sd15", cache))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ReproError(f"{require_asset('elatentlpips-sd15', cache)}: does not fit the E-LatentLPIPS "
                         f"network ({str(e).splitlines()[0][:160]}); re-fetch it") from None
    return net
