"""Exponential moving averages of the parameters, at several rates at once.

    θ_ema ← rate·θ_ema + (1 − rate)·θ = lerp(θ_ema, θ, 1 − rate)

Shadows are float32 (an EMA at rate 0.99993 moves by 7e-5 per step, below bf16 resolution)
and live on the model's device. `update` issues one fused `_foreach_lerp_` per rate and reads
nothing back to the host, so it does not stall the GPU stream. Only parameters are tracked:
the networks' buffers are constants of the architecture (Fourier frequencies, filters), and
`load_for_eval` overlays the EMA weights on the model state dict.

State dict: {str(rate): {param_name: tensor}} — plain tensors, loadable with weights_only=True.
"""
from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, rates):
        self.rates = tuple(float(r) for r in rates)
        for r in self.rates:
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"EMA rate {r} is outside [0, 1]")
        self.names = [n for n, _ in model.named_parameters()]
        self.shadow = {r: [p.detach().float().clone() for _, p in model.named_parameters()] for r in self.rates}

    def _params(self, model: nn.Module):
        params = dict(model.named_parameters())
        if list(params) != self.names:
            raise ValueError("EMA: the model's parameters differ from the ones it was built with")
        return [p.detach() for p in params.values()]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = [p if p.dtype == torch.float32 else p.float() for p in self._params(model)]
        for r, shadow in self.shadow.items():
            torch._foreach_lerp_(shadow, params, 1.0 - r)

    @torch.no_grad()
    def copy_to(self, model: nn.Module, rate: float) -> None:
        """Overwrite the model's parameters with the EMA at `rate`."""
        shadow = self.shadow[self._key(rate)]
        params = self._params(model)
        torch._foreach_copy_(params, shadow)

    def state_dict(self) -> dict:
        return {str(r): dict(zip(self.names, shadow)) for r, shadow in self.shadow.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        loaded = {float(k): v for k, v in state.items()}
        if sorted(loaded) != sorted(self.rates):
            raise ValueError(f"EMA: checkpoint has rates {sorted(loaded)}, this run uses {sorted(self.rates)}")
        for r, shadow in self.shadow.items():
            tensors = loaded[r]
            missing = [n for n in self.names if n not in tensors]
            if missing:
                raise ValueError(f"EMA {r}: checkpoint lacks {missing[:3]}")
            torch._foreach_copy_(shadow, [tensors[n].to(s.device, s.dtype) for n, s in zip(self.names, shadow)])

    def _key(self, rate: float) -> float:
        for r in self.rates:
            if abs(r - float(rate)) < 1e-12:
                return r
        raise KeyError(f"EMA: no rate {rate}; have {list(self.rates)}")
