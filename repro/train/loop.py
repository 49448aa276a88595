"""The training loop: one function, in sections (EDM's training_loop.py is the model).

Bit-exact resume without saving RNG state: every random draw of step k comes from generators
seeded by (seed, k) — the data order from (seed, epoch) — so a run restarted from the checkpoint
of step k draws exactly what the uninterrupted run drew. Data-parallel ranks draw the whole
global batch's noise and time indices from the same generator and keep their slice, so a
W-process run computes the same gradient as a 1-process run with the same global batch.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import torch

from repro.io import ReproError, append_text, atomic_write_json, atomic_write_text
from repro.specs import Row
from repro.train import build
from repro.train import stopping
from repro.train.checkpoint import load_latest, save_checkpoint
from repro.train.ot_pairs import NextPairs

def _mix(*xs: int) -> int:
    """A 63-bit seed from integers (splitmix64 steps), so (seed, k) pairs never collide in practice."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class _Order:
    """Epoch-wise shuffled indices (drop_last, like the LCT DistributedSampler), pure in step."""

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.batch, self.seed = n, batch, seed
        self.per_epoch = max(n // batch, 1)
        self._epoch, self._perm = None, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(_mix(self.seed, 1, epoch))
            self._perm, self._epoch = torch.randperm(self.n, generator=g), epoch
        idx = torch.arange(k * self.batch, (k + 1) * self.batch) % self.n
        return self._perm[idx]


def train_row(row: Row, run_dir, max_steps: int | None = None, progress: bool = True,
              device: str | None = None, on_eval=None) -> Path:
    """Train `row` in `run_dir` until step min(K, max_steps); resumes from its checkpoints.

    on_eval(step, ema_model) -> dict: called on rank 0 at step 0 of a fresh run and every
    `row.runtime.eval_every` steps with a copy of the network holding the EMA weights; its dict
    goes to metrics.jsonl (repro/train/periodic_eval.py: it cannot change the training)."""
    run_dir = Path(run_dir)
    rank, world = _dist()
    rt = row.runtime
    dev = resolve_device(device or rt.device)
    total = row.total_steps
    stop = min(total, max_steps) if max_steps else total

    # Checks that need the process count, before anything is built or written.
    batch = row.train.batch_size
    if batch % world:
        raise ReproError(f"TrainSpec.batch_size={batch} does not split over {world} processes")
    local = batch // world
    micro = rt.micro_batch or local
    if local % micro:
        raise ReproError(f"RuntimeSpec.micro_batch={micro} does not divide the per-process batch {local}")

    # Data, network, optimiser, EMA, objective.
    from repro.data import open_train_set
    from repro.nn.ema import EMA

    data = open_train_set(row.data)
    f = build.initial_function(row).to(dev)
    fwd = apply_runtime(f, rt, dev)      # channels_last, TF32, torch.compile: CUDA only
    opt = build.build_optimizer(row, f.parameters(), fused=rt.fused_optim and dev.type == "cuda")
    ema = EMA(f, row.train.ema_rates)
    objective = build.build_objective(row)
    dim = build.data_dim(data.shape)

    # Resume.
    state, ckpt_path = load_latest(run_dir, row.training_key)
    step, wall = 0, 0.0
    if state is not None:
        try:
            f.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            ema.load_state_dict(state["ema"])
            step, wall = int(state["step"]), float(state.get("wall_s", 0.0))
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise ReproError(f"{ckpt_path}: does not fit this row's network or optimiser ({first}); move it "
                             f"out of {ckpt_path.parent} to resume from an earlier one, or use another run dir") from None
    elif rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "operative_config.gin", row.operative_config)
        atomic_write_json(run_dir / "row.json", row.to_dict())
    if step >= stop:
        return run_dir
    if rank == 0:
        remove_stale_temps(run_dir)
        _trim_log(run_dir / "metrics.jsonl", step)

    order = _Order(len(data), batch, row.train.seed)
    step_fn = _make_step(row, f, fwd, opt, ema, objective, data, dim, total, dev, rank, world, local, micro)
    periodic, shown, post = None, {}, {}
    if on_eval is not None and rt.eval_every and rank == 0:
        from repro.train.periodic_eval import PeriodicEval

        periodic = PeriodicEval(f, ema, row.eval.ema, rt.eval_every, on_eval, dev)
        if step == 0:
            line = periodic(0)
            append_text(run_dir / "metrics.jsonl", json.dumps(line) + "\n")
            shown = {line.get("metric_name", "metric"): f"{line.get('metric', float('nan')):.4g}"}

    # Loop.
    log_path = run_dir / "metrics.jsonl"
    bar = _progress(progress and rank == 0, step, stop)
    loss_sum = torch.zeros((), device=dev)
    bad_step = torch.full((), -1, dtype=torch.long, device=dev)
    spike = _SpikeDetector(dev)
    window, t0 = 0, time.perf_counter()
    last_saved = ckpt_path
    with contextlib.ExitStack() as stack:
        stack.enter_context(stopping.save_on_signals())
        stack.callback(lambda: bar is not None and bar.close())
        stack.callback(step_fn.close)
        while step < stop:
            loss = step_fn(step, order.indices(step), order.indices(step + 1) if step + 1 < stop else None)
            # Divergence guard without a host sync: remember the first non-finite step on device.
            finite = torch.isfinite(loss)
            bad_step = torch.where((bad_step < 0) & ~finite, torch.full_like(bad_step, step), bad_step)
            loss_sum += torch.where(finite, loss.detach(), torch.zeros_like(loss))
            spike.update(loss.detach(), finite, step)
            step += 1
            window += 1
            boundary = step % rt.log_every == 0 or step == stop
            save = step % rt.ckpt_every == 0 or step == stop or stopping.requested()
            if boundary or save:
                if int(bad_step) >= 0:
                    raise ReproError(
                        f"{run_dir}: non-finite loss at step {int(bad_step)}; training stopped; lower "
                        f"OptimSpec.lr or check the data, then re-run to resume from the last good "
                        f"checkpoint: {last_saved or 'none (starts from scratch)'}")
            if boundary and rank == 0:
                warn = spike.report()      # one host sync per boundary, none per step
                if warn is not None:
                    append_text(log_path, json.dumps(warn) + "\n")
            if boundary:
                dt = time.perf_counter() - t0
                wall += dt
                mean = float(loss_sum) / max(window, 1)
                n = build.n_at(row, step - 1, total)
                rec = dict(step=step, loss=mean, N=n, c=build.c_at(row, n, dim), steps_per_s=window / dt,
                           wall_s=wall)
                if rank == 0:
                    append_text(log_path, json.dumps(rec) + "\n")
                    if bar is not None:
                        post = dict(loss=f"{mean:.4g}", N=n, c=f"{rec['c']:.3g}", it_s=f"{window / dt:.1f}")
                        bar.set_postfix(**post, **shown)
                        bar.update(window)
                loss_sum.zero_()
                window, t0 = 0, time.perf_counter()
            if periodic is not None and periodic.due(step):
                line = periodic(step)
                append_text(log_path, json.dumps(line) + "\n")
                shown = {line.get("metric_name", "metric"): f"{line.get('metric', float('nan')):.4g}"}
                if bar is not None:
                    bar.set_postfix(**post, **shown)
                wall += line["eval_s"]      # counted in the run's wall time, not in its steps/s
                t0 += line["eval_s"]
            if save:
                if rank == 0:
                    last_saved = save_checkpoint(run_dir, dict(
                        step=step, model=f.state_dict(), optimizer=opt.state_dict(), ema=ema.state_dict(),
                        training_key=row.training_key, spec=json.dumps(row.training_spec(), sort_keys=True),
                        wall_s=wall + (time.perf_counter() - t0), world=world), keep=rt.keep_ckpts)
                if stopping.requested():
                    stopping.saved(last_saved, step)
    return run_dir


def apply_runtime(f: torch.nn.Module, rt, dev: torch.device) -> torch.nn.Module:
    """Apply RuntimeSpec's model/backend switches to `f` in place; return the callable for forwards.

    On CUDA: channels_last weights, TF32 matmul/cudnn, and (rt.compile) a torch.compile'd
    forward that shares f's parameters (state dicts, optimiser and EMA keep using `f`).
    Elsewhere `f` is returned untouched, so CPU runs do not depend on these switches.
    """
    if dev.type != "cuda":
        return f
    if rt.channels_last:
        f.to(memory_format=torch.channels_last)
    if rt.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.compile(f) if rt.compile else f


class _SpikeDetector:
    """Loss spikes, found on the device: a finite loss above SPIKE_FACTOR x the running mean.

    The running mean is an EMA (SPIKE_BETA) of the finite losses; after SPIKE_WARMUP steps the
    first spike since the last report is remembered (step, loss, mean) in device tensors, and
    `report()` (called at log boundaries only) turns it into a warning line for metrics.jsonl.
    A spike is a warning, not a stop: non-finite losses are what stops a run.
    """

    def __init__(self, dev):
        self.mean = torch.zeros((), device=dev)
        self.seen = torch.zeros((), dtype=torch.long, device=dev)
        self.info = torch.full((3,), -1.0, dtype=torch.float64, device=dev)   # step, loss, mean

    def update(self, loss, finite, step: int) -> None:
        l = torch.where(finite, loss.float(), torch.zeros_like(loss, dtype=torch.float32))
        hit = finite & (self.seen >= SPIKE_WARMUP) & (l > SPIKE_FACTOR * self.mean) & (self.info[0] < 0)
        new = torch.stack([torch.full_like(l, step).double(), l.double(), self.mean.double()])
        self.info = torch.where(hit, new, self.info)
        ema = torch.where(self.seen == 0, l, SPIKE_BETA * self.mean + (1 - SPIKE_BETA) * l)
        self.mean = torch.where(finite, ema, self.mean)
        self.seen = self.seen + finite.long()

    def report(self):
        step, loss, mean = self.info.tolist()
        if step < 0:
            return None
        self.info.fill_(-1.0)
        return {"step": int(step) + 1, "warning": "loss spike", "spike_at_step": int(step),
                "loss": loss, "running_mean": mean, "factor": SPIKE_FACTOR}


SPIKE_FACTOR = 10.0
SPIKE_WARMUP = 20
SPIKE_BETA = 0.9


def _trim_log(log_path: Path, step: int) -> None:
    """On resume: drop metrics lines past the checkpoint's step and a line torn by a kill."""
    try:
        text = log_path.read_text()
    except FileNotFoundError:
        return
    keep = []
    for line in text.splitlines(keepends=True):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if line.endswith("\n") and isinstance(rec, dict) and int(rec.get("step", 0)) <= step:
            keep.append(line)
    if len(keep) != len(text.splitlines()) or (text and not text.endswith("\n")):
        atomic_write_text(log_path, "".join(keep))


def remove_stale_temps(run_dir) -> None:
    """Temp files of checkpoint writes that a kill interrupted (only the trainer writes here)."""
    from repro.train.checkpoint import ckpt_dir
    d = ckpt_dir(run_dir)
    if d.is_dir():
        for p in d.glob(".step-*.tmp"):
            p.unlink(missing_ok=True)


class _Drawn(NamedTuple):
    """A step's draws for this rank: generator, N, batch (device and host), labels, objective draws."""
    g: torch.Generator
    n: int
    x0: torch.Tensor
    x0_host: torch.Tensor
    labels: torch.Tensor | None
    draws: dict


def _make_step(row, f, fwd, opt, ema, objective, data, dim, total, dev, rank, world, local, micro):
    """Build the per-step closure: draw, forward, backward, all-reduce, optimiser, EMA."""
    use_bf16 = row.runtime.bf16 and dev.type == "cuda"
    flip = row.data.hflip
    params = [p for p in f.parameters() if p.requires_grad]

    # OT pairs of step k+1 found on a host thread during step k (repro/train/ot_pairs.py).
    pairs = NextPairs(objective.permutation) if getattr(objective, "permutation", None) else None
    ahead: dict = {}

    def draw(step: int, idx: torch.Tensor):
        seed = _mix(row.train.seed, 2, step)
        g = torch.Generator(device=dev).manual_seed(seed)
        gcpu = torch.Generator().manual_seed(seed)
        n = build.n_at(row, step, total)
        flips = (torch.rand(len(idx), generator=gcpu) < 0.5) if flip else None
        x0_host, labels = data.batch(idx, flip_mask=flips)
        x0 = x0_host.to(dev, non_blocking=True)
        labels = labels.to(dev, non_blocking=True) if labels is not None else None
        # Whole-batch draws on every rank, then this rank's slice (see module docstring).
        draws = objective.draw(len(x0), n, g, like=x0)
        lo = rank * local
        draws = {k: v[lo:lo + local] for k, v in draws.items()}
        labels = None if labels is None else labels[lo:lo + local]
        return _Drawn(g, n, x0[lo:lo + local], x0_host[lo:lo + local], labels, draws)

    def step_fn(step: int, idx: torch.Tensor, next_idx: torch.Tensor | None = None) -> torch.Tensor:
        """One step; with next_idx (step+1's indices), step+1's draws and OT pairs start now."""
        mine = ahead.pop(step, None)
        ahead.clear()
        # Every step's pairs come from the worker thread (solved ahead or now), so a resumed run's
        # first step computes them exactly where the uninterrupted run did.
        if mine is None and pairs is not None:
            now = draw(step, idx)
            mine = (now, pairs.submit(now.x0_host, now.draws["z"]))
        g, n, x0, _, labels, draws = mine[0] if mine else draw(step, idx)
        if mine:
            draws = dict(draws, zc=pairs.apply(draws["z"], mine[1]))
        if pairs is not None and next_idx is not None:      # before this step's kernels are queued
            nxt = draw(step + 1, next_idx)
            ahead[step + 1] = (nxt, pairs.submit(nxt.x0_host, nxt.draws["z"]))
        c = build.c_at(row, n, dim)
        if micro < local and hasattr(objective, "whole_batch"):
            # OT pairs and the diffusion-term count over this rank's whole batch, then sliced:
            # accumulation trains the same objective as one pass over the batch.
            draws = objective.whole_batch(x0, n, draws, micro)
        # Dropout masks: a per-(step, rank) seed, restored identically after a resume.
        torch.manual_seed(_mix(row.train.seed, 3, step, rank))
        opt.zero_grad(set_to_none=True)
        total_loss = torch.zeros((), device=dev)
        for a in range(0, local, micro):
            sl = slice(a, a + micro)
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
            with ctx:
                loss, _ = objective(fwd, x0[sl], n, c, g, class_labels=None if labels is None else labels[sl],
                                    draws={k: v[sl] for k, v in draws.items()})
            (loss * (micro / local)).backward()
            total_loss += loss.detach() * (micro / local)
        if world > 1:
            _allreduce_mean([p.grad for p in params if p.grad is not None], world)
            torch.distributed.all_reduce(total_loss)
            total_loss /= world
        opt.step()
        ema.update(f)
        return total_loss

    step_fn.close = pairs.close if pairs is not None else (lambda: None)
    return step_fn


def _allreduce_mean(grads, world):
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    torch.distributed.all_reduce(flat)
    flat /= world
    for g, s in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(s)


def _progress(enabled: bool, start: int, stop: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=stop, initial=start, desc="train", unit="step", dynamic_ncols=True,
                disable=os.environ.get("REPRO_NO_PROGRESS") == "1")
