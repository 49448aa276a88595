"""Fault injection by SIGKILL: run a job in a child process, kill it at a random moment, restart.

Python start-up (torch, gin, diffusers) costs seconds, so children are forked from a
multiprocessing *forkserver* that imported the heavy modules once: a child starts in a few ms
and a kill can land anywhere in the job, including inside checkpoint / record / cache writes.
The forkserver never runs torch ops, so forking it is safe (no OpenMP pool to inherit).

`run_with_kills(target, args, kills, max_delay, on_kill)` is the loop the reliability tests
share: start target(*args) in a child, SIGKILL it after a random delay, call `on_kill()` to
check the on-disk state, repeat `kills` times (children that finish before their kill are
restarted without counting), then run it once more to completion.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time

PRELOAD = ["torch", "torch._dynamo", "torch.optim", "numpy", "gin", "pandas", "sklearn.datasets", "ot",
           "diffusers", "repro.rows.configurables", "repro.rows", "repro.nn", "repro.core", "repro.train.build",
           "repro.train.loop", "repro.results.records", "repro.data.toy", "repro.data.trainset",
           "repro.data.latents", "repro.data.prepare", "repro.data.vae", "helpers.killharness"]

_ctx = None


def context():
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def _child(target, args):
    # Each child: one thread, no progress bars; the kill is the only way it stops early.
    os.environ["REPRO_NO_PROGRESS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)
    target(*args)


def start(target, args=()):
    p = context().Process(target=_child, args=(target, tuple(args)), daemon=True)
    p.start()
    return p


def _noop():
    pass


def warm() -> None:
    """Start the forkserver (its preload takes seconds) so later timings are of the job only."""
    run_to_end(_noop)


def run_to_end(target, args=(), timeout=300.0) -> None:
    p = start(target, args)
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        raise AssertionError(f"{target.__name__} did not finish in {timeout} s")
    assert p.exitcode == 0, f"{target.__name__} exited with {p.exitcode}"


def run_with_kills(target, args, kills: int, max_delay: float, on_kill=None, seed: int = 0,
                   min_delay: float = 0.0, timeout: float = 300.0, done=None) -> dict:
    """Kill `target(*args)` `kills` times at random moments, then let it finish.

    Returns {'kills': n, 'finished_early': m, 'seconds': s}. `on_kill(i)` runs after each kill
    (with the child reaped) and may inspect or assert on the files it left.
    """
    rng = random.Random(seed)
    finished = done
    n_killed = early = 0
    t_start = time.perf_counter()
    while n_killed < kills and not (finished is not None and finished()):
        if time.perf_counter() - t_start > timeout:
            raise AssertionError(f"kill loop took over {timeout} s ({n_killed} kills)")
        p = start(target, args)
        p.join(rng.uniform(min_delay, max_delay))
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
            p.join()
        if p.exitcode == -signal.SIGKILL:
            n_killed += 1
        else:                   # finished before its kill (or raced it to the exit)
            assert p.exitcode == 0, f"{target.__name__} failed with exit code {p.exitcode}"
            early += 1
        if on_kill is not None:
            on_kill(n_killed)
    run_to_end(target, args, timeout)
    return {"kills": n_killed, "finished_early": early, "seconds": time.perf_counter() - t_start}


# ------------------------------------------------------------------ targets (run in the child)

TRAIN_ROW = "demo/digits/nfe1"
TRAIN_OVERRIDES = ("ModelSpec.model_channels=8", "ModelSpec.channels_per_head=8",
                   "TrainSpec.batch_size=16", "RuntimeSpec.ckpt_every=1", "RuntimeSpec.log_every=1",
                   "TrainSpec.total_steps=40")


def train(run_dir, overrides=TRAIN_OVERRIDES, steps=None, write_delay_s=0.0):
    os.environ["REPRO_TEST_WRITE_DELAY_S"] = str(write_delay_s)
    from repro.rows import load_row
    from repro.train import train_row
    row = load_row(TRAIN_ROW, overrides=overrides)
    train_row(row, run_dir, max_steps=steps, progress=False, device="cpu")


def write_records(root, record, n=10_000, write_delay_s=0.0):
    os.environ["REPRO_TEST_WRITE_DELAY_S"] = str(write_delay_s)
    from repro.results.records import write_record
    for i in range(n):
        write_record(dict(record, ours={"w2_pixels": float(i)}), root)


def encode(root, batch_size, chunk_batches, seed=0):
    from repro.data.latents import encode_dataset
    from repro.data.vae import TINY_VAE_CONFIG, build_vae
    vae = build_vae(TINY_VAE_CONFIG)
    encode_dataset("cifar10", root=root, batch_size=batch_size, vae=vae, vae_hash="tiny",
                   chunk_batches=chunk_batches, seed=seed, progress=False)


def prepare(name, src, root):
    from repro.data.prepare import prepare as prep
    prep(name, src, root=root, allow_nonstandard=True, progress=False)
