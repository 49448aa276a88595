"""Consistency-training objective (iCT / sLCT) and the LDM-8† diffusion baseline loss."""
from __future__ import annotations

import inspect

import torch

from repro.io import ReproError
from repro.specs import LossSpec

from .coupling import COUPLINGS, PERMUTATIONS
from .distances import DISTANCES, REDUCTIONS, squared_norm
from .registry import Registry
from .sigmas import INDEX_SAMPLERS, karras_sigmas, sample_indices
from .weighting import WEIGHTINGS, edm_weight

# The keyword defaults of the losses: LossSpec's, so the core without gin and a row agree.
_D = LossSpec()
# The training objectives, classes with `from_spec(loss_spec)`.
OBJECTIVES = Registry("objective", binding="LossSpec.objective")
# Which pairs get sLCT's diffusion term (eq. 9): (i, n, r) -> bool mask; see ConsistencyLoss.diff_mask.
DIFF_INDEX_RULES = Registry("diffusion-term index rule", binding="LossSpec.diff_index_rule")
# Weight of the diffusion term per sample: (term, sigma, sigma_data) -> weighted term.
DIFF_WEIGHTINGS = Registry("diffusion-term weighting", binding="LossSpec.diff_weighting")


def _spec_kwargs(cls, spec) -> dict:
    """The LossSpec fields `cls.__init__` takes, read from `spec`."""
    names = list(inspect.signature(cls.__init__).parameters)[1:]
    return {k: getattr(spec, k) for k in names}


def _expand(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


@DIFF_INDEX_RULES.register("code")
def _diff_rule_code(i: torch.Tensor, n: int, r: float) -> torch.Tensor:
    # LCT's `indices >= int(N·(1−r))` on the descending index of the student, j = n−2−i.
    return (n - 2 - i) >= int(n * (1.0 - r))


@DIFF_INDEX_RULES.register("paper")
def _diff_rule_paper(i: torch.Tensor, n: int, r: float) -> torch.Tensor:
    # sLCT eq. 9 "i ≤ int(N·r)", i the 1-based ascending index of the student (i+2 here).
    return (i + 2) <= int(n * r)


@DIFF_WEIGHTINGS.register("edm")
def _diff_weight_edm(term: torch.Tensor, sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return edm_weight(sigma, sigma_data) * term


@DIFF_WEIGHTINGS.register("none")
def _diff_weight_none(term: torch.Tensor, sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return term


def _draw_noise(batch: int, like: torch.Tensor, generator) -> torch.Tensor:
    # A torch.Generator is bound to one device: draw there, then move to the data.
    dev = generator.device if generator is not None else like.device
    shape = (batch,) + tuple(like.shape[1:])
    return torch.randn(shape, generator=generator, device=dev, dtype=torch.float32).to(like.device)


def _rng_state(device: torch.device):
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state, device: torch.device) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


@OBJECTIVES.register("ct")
class ConsistencyLoss:
    """L = E_i[λ(σ_i, σ_{i+1}) · d(f_θ(x0 + σ_{i+1}z, σ_{i+1}), sg f_θ(x0 + σ_i z, σ_i))]
    (iCT sec. 3; sLCT eq. 4), plus sLCT's small-σ diffusion term (eq. 9) when diff_r > 0.

    The keyword arguments are LossSpec's fields, with its defaults; c (the robust scale) and n
    (the current N) change during training, so they are call arguments.
    """

    def __init__(self, distance=_D.distance, reduction=_D.reduction, weighting=_D.weighting,
                 index_sampler=_D.index_sampler, p_mean=_D.p_mean, p_std=_D.p_std, diff_r=_D.diff_r,
                 diff_weight=_D.diff_weight, diff_weighting=_D.diff_weighting,
                 diff_index_rule=_D.diff_index_rule, coupling=_D.coupling, sigma_min=_D.sigma_min,
                 sigma_max=_D.sigma_max, rho=_D.rho, sigma_data=_D.sigma_data,
                 dropout_rng_sync=_D.dropout_rng_sync):
        self.distance = DISTANCES[distance]
        self.weighting = WEIGHTINGS[weighting]
        self.coupling = COUPLINGS[coupling]
        # The coupling as a host function (x0, z) -> perm, when it is one (OT): see whole_batch.
        self.permutation = PERMUTATIONS.get(coupling)
        self._index_probs = INDEX_SAMPLERS[index_sampler]
        REDUCTIONS[reduction]  # a bad name fails here, not at the first step
        self._diff_rule, self._diff_weigh = DIFF_INDEX_RULES[diff_index_rule], DIFF_WEIGHTINGS[diff_weighting]
        if not 0.0 <= diff_r <= 1.0:
            raise ReproError(f"LossSpec.diff_r={diff_r!r}: must lie in [0, 1]")
        self.reduction, self.index_sampler = reduction, index_sampler
        self.p_mean, self.p_std = float(p_mean), float(p_std)
        self.diff_r, self.diff_weight = float(diff_r), float(diff_weight)
        self.diff_weighting, self.diff_index_rule = diff_weighting, diff_index_rule
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self.sigma_data = float(sigma_data)
        self.dropout_rng_sync = bool(dropout_rng_sync)
        self._grids: dict = {}

    @classmethod
    def from_spec(cls, spec) -> "ConsistencyLoss":
        if spec.objective != "ct":
            raise ReproError(f"LossSpec.objective={spec.objective!r}: ConsistencyLoss needs 'ct'")
        return cls(**_spec_kwargs(cls, spec))

    def grid(self, n: int, device) -> tuple:
        """Ascending Karras grid of n points and its index probabilities, cached per (n, device)."""
        key = (int(n), str(device))
        if key not in self._grids:
            sig = karras_sigmas(n, self.sigma_min, self.sigma_max, self.rho)
            probs = self._index_probs(sig, self.p_mean, self.p_std)
            self._grids[key] = (sig.to(device), probs)
        return self._grids[key]

    def diff_mask(self, i: torch.Tensor, n: int) -> torch.Tensor:
        """Which pairs get the diffusion term; i is the ascending pair index, the student sits at i+1.

        'code': LCT's `indices >= int(N·(1−r))` on the descending index of the student,
                j = n−2−i (switch diff_term.index_rule).
        'paper': sLCT eq. 9 "i ≤ int(N·r)" read with i = 1-based ascending index of the point
                 where f is evaluated (the student, i+2 in 1-based terms).
        """
        return self._diff_rule(i, n, self.diff_r)

    def draw(self, batch: int, n: int, generator=None, like: torch.Tensor = None) -> dict:
        """The step's random draws: pair indices 'i' then unit noise 'z' shaped like `like`.

        Separate from __call__ so a data-parallel loop can draw the global batch once and hand
        each rank / micro-batch its slice; both values are per-sample, so slicing is valid.
        """
        sigmas, probs = self.grid(n, like.device)
        i = sample_indices(self.index_sampler, sigmas, batch, generator, probs=probs)
        return {"i": i, "z": _draw_noise(batch, like, generator)}

    def whole_batch(self, x0: torch.Tensor, n: int, draws: dict, micro: int) -> dict:
        """Draws for a batch that __call__ will see in slices of `micro` samples (accumulation).

        The OT pairs and the diffusion term's count of selected samples are batch-level, so they
        are computed here once over the whole batch: 'zc' is the paired noise (kept if the caller
        paired already, e.g. z[self.permutation(x0, z)] from a host thread) and 'diff_den' (one
        value per sample, so slices carry it) the denominator that makes
        sum over slices of (micro/B)·loss(slice) equal the whole batch's loss.
        """
        out = dict(draws)
        if "zc" not in out:
            out["zc"] = self.coupling(x0, draws["z"].to(x0.device, torch.float32))
        if self.diff_r > 0:
            count = self.diff_mask(draws["i"].to(x0.device), n).sum().clamp(min=1)
            den = count.to(torch.float32) * (micro / x0.shape[0])
            out["diff_den"] = den.expand(x0.shape[0])
        return out

    def __call__(self, f, x0: torch.Tensor, n: int, c, generator=None, class_labels=None, draws=None):
        sigmas, _ = self.grid(n, x0.device)
        if draws is None:
            draws = self.draw(x0.shape[0], n, generator, x0)
        i = draws["i"].to(x0.device)
        if "zc" in draws:       # paired over the whole batch by whole_batch()
            z = draws["zc"].to(x0.device, torch.float32)
        else:                   # OT pairs within the batch this call sees (per GPU batch, as the LCT code)
            z = self.coupling(x0, draws["z"].to(x0.device, torch.float32))
        sigma, sigma_next = sigmas[i], sigmas[i + 1]

        # Same dropout masks for student and teacher (iCT sec. 3.1). Restoring the state before
        # the teacher means the teacher replays the student's draws, so the global RNG ends
        # where a student-only step would leave it. CUDA state is synced too (LCT only did CPU).
        state = _rng_state(x0.device) if self.dropout_rng_sync else None
        y = f(x0 + _expand(sigma_next, x0) * z, sigma_next, class_labels)
        if state is not None:
            _set_rng_state(state, x0.device)
        with torch.no_grad():
            y_ref = f(x0 + _expand(sigma, x0) * z, sigma, class_labels).detach()

        per_sample = self.weighting(sigma, sigma_next) * self.distance(y, y_ref, c, self.reduction)
        ct = per_sample.mean()
        zero = torch.zeros((), device=x0.device)
        diff, n_diff = zero, torch.zeros((), dtype=torch.long, device=x0.device)
        loss = ct
        if self.diff_r > 0:
            # sLCT eq. 9 on the student's output at the pair's higher σ (same forward pass).
            sel = self.diff_mask(i, n)
            term = self._diff_weigh(squared_norm(y, x0, self.reduction), sigma_next, self.sigma_data)
            n_diff = sel.sum()
            # Mean over the selected samples only (LCT code); 0 (not NaN) when none is selected.
            den = draws["diff_den"][0] if "diff_den" in draws else n_diff.clamp(min=1)
            diff = torch.where(sel, term, zero).sum() / den
            loss = ct + self.diff_weight * diff
        stats = {"ct": ct.detach(), "diff": diff.detach(), "n_diff": n_diff.detach(),
                 "sigma_mean": sigma_next.mean().detach()}
        return loss, stats


@OBJECTIVES.register("diffusion")
class DiffusionLoss:
    """LDM-8† baseline (sLCT Table 1; LCT train_diff_latent.py): EDM-weighted Cauchy-type denoising loss.

    σ is uniform over the points of a num_scales Karras grid; per sample
    λ(σ)·log(1 + mse/(2c²)) with λ = 1/σ² + 1/σ_d², i.e. the LCT code's
    log(0.5·mse + c²) − 2 log c. The code's weight broadcast (which effectively used the batch
    mean of λ) is a bug and is not reproduced: each sample gets its own λ.
    `d` is a denoiser module d(x, sigma, class_labels), e.g. precond.Denoiser.
    """

    def __init__(self, num_scales=_D.num_scales, distance=_D.distance, reduction=_D.reduction,
                 sigma_min=_D.sigma_min, sigma_max=_D.sigma_max, rho=_D.rho, sigma_data=_D.sigma_data):
        self.distance = DISTANCES[distance]
        REDUCTIONS[reduction]  # a bad name fails here, not at the first step
        self.reduction = reduction
        self.num_scales = int(num_scales)
        self.sigma_data = float(sigma_data)
        self.sigmas = karras_sigmas(self.num_scales, sigma_min, sigma_max, rho)

    @classmethod
    def from_spec(cls, spec) -> "DiffusionLoss":
        if spec.objective != "diffusion":
            raise ReproError(f"LossSpec.objective={spec.objective!r}: DiffusionLoss needs 'diffusion'")
        return cls(**_spec_kwargs(cls, spec))

    def draw(self, batch: int, n=None, generator=None, like: torch.Tensor = None) -> dict:
        """Grid index 'j' (uniform over all num_scales points) then unit noise 'z'."""
        dev = generator.device if generator is not None else like.device
        j = torch.randint(0, self.num_scales, (batch,), generator=generator, device=dev)
        return {"j": j.to(like.device), "z": _draw_noise(batch, like, generator)}

    def __call__(self, d, x0: torch.Tensor, n=None, c=3.45, generator=None, class_labels=None, draws=None):
        """n is ignored (no curriculum); it is accepted so the loop calls both losses alike."""
        if draws is None:
            draws = self.draw(x0.shape[0], n, generator, x0)
        sigma = self.sigmas.to(x0.device)[draws["j"].to(x0.device)]
        z = draws["z"].to(x0.device, torch.float32)
        y = d(x0 + _expand(sigma, x0) * z, sigma, class_labels)
        per_sample = edm_weight(sigma, self.sigma_data) * self.distance(y, x0, c, self.reduction)
        loss = per_sample.mean()
        return loss, {"diffusion": loss.detach(), "sigma_mean": sigma.mean().detach()}


def build_loss(spec):
    """The objective `spec.objective` names (ConsistencyLoss, DiffusionLoss), built from the LossSpec."""
    return OBJECTIVES[spec.objective].from_spec(spec)
