"""The in-training metric, seen from the loop: call a scorer on the EMA weights every few steps
without changing what training computes.

The loop knows nothing of evaluation (the train layer does not import eval); the launcher hands
it `on_eval(step, ema_model) -> dict` (e.g. {"metric", "metric_name", "metric_num"}) and this
module only makes the call safe:

- the scorer gets its own copy of the network holding the EMA weights (`row.eval.ema`), made
  once before the first step, so the training network, its gradients and its train/eval mode
  are never touched;
- the global RNG state (CPU and the training device) is saved and restored around the call, so
  a scorer that draws from it changes no later draw of training (training's own draws come from
  generators seeded by (seed, step) anyway);
- it runs without autograd.

So a run with the metric on ends in the same state, bit for bit, as one with it off
(tests/test_train_periodic_eval.py).
"""
from __future__ import annotations

import copy
import time

import torch


class PeriodicEval:
    def __init__(self, f: torch.nn.Module, ema, rate: float, every: int, on_eval, device):
        self.every, self.on_eval, self.ema, self.rate = int(every), on_eval, ema, rate
        self.device = torch.device(device)
        # Copied before any step, while f holds no gradients.
        self.model = copy.deepcopy(f).requires_grad_(False).eval()
        for p in self.model.parameters():
            p.grad = None

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def __call__(self, step: int) -> dict:
        """The metrics.jsonl line for `step`: the scorer's dict plus `step` and `eval_s`."""
        t0 = time.perf_counter()
        self.ema.copy_to(self.model, self.rate)
        self.model.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            out = dict(self.on_eval(step, self.model) or {})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return {"step": int(step), **out, "eval_s": time.perf_counter() - t0}
