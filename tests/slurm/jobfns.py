"""Job functions the slurm tests submit (importable in the job through PYTHONPATH).

`fake_train` stands in for repro.train.train_row and implements the same checkpoint-request
protocol (request_checkpoint / wait_checkpoint_saved, see repro/launch/slurm.py), so TrainJob's
preemption path is tested end to end before the real loop is wired in.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

_requested = threading.Event()
_saved = threading.Event()


class CheckpointRequested(Exception):
    pass


def request_checkpoint() -> None:
    _saved.clear()
    _requested.set()


def wait_checkpoint_saved(timeout: float) -> bool:
    return _saved.wait(timeout)


def add(a, b):
    return a + b


def square(x):
    return x * x


def ddp_probe():
    """Both ranks: (rank, world, local_rank, all_reduce of rank+1) through setup_distributed."""
    import torch
    import torch.distributed as dist

    from repro.launch.jobenv import setup_distributed

    rank, world, local = setup_distributed()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    dist.barrier()
    return rank, world, local, float(t.item()), dist.get_backend()


def _state_dir(run_root, row_id) -> Path:
    d = Path(run_root) / row_id.replace("/", "__")
    d.mkdir(parents=True, exist_ok=True)
    return d


def fake_train(row_id, overrides, run_root, max_steps, smoke, step_s: float = 0.5):
    """Sums 0..max_steps-1, one term per `step_s`; state saved only when asked (so a restart
    that did not get its save would start over, visibly, from step 0)."""
    d = _state_dir(run_root, row_id)
    state_file = d / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"step": 0, "acc": 0}
    with open(d / "starts.jsonl", "a") as f:
        f.write(json.dumps({"step": state["step"], "restart": int(os.environ.get("SLURM_RESTART_COUNT", 0))}) + "\n")
    while state["step"] < max_steps:
        time.sleep(step_s)
        state["acc"] += state["step"]
        state["step"] += 1
        (d / "progress").write_text(str(state["step"]))
        if _requested.is_set():
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, state_file)
            _requested.clear()
            _saved.set()
            raise CheckpointRequested(str(state_file))
    starts = [json.loads(x) for x in (d / "starts.jsonl").read_text().splitlines()]
    return {"acc": state["acc"], "starts": starts}


def quick_train(row_id, overrides, run_root, max_steps, smoke):
    d = Path(run_root) / "trained"
    d.mkdir(parents=True, exist_ok=True)
    (d / row_id.replace("/", "__")).write_text(json.dumps({"row": row_id, "smoke": smoke, "steps": max_steps}))
    return str(d)


def quick_eval(row_ids, overrides, run_root, smoke, num):
    d = Path(run_root) / "trained"
    return {r: sorted(p.name for p in d.iterdir()) for r in row_ids}


def boom_train(row_id, overrides, run_root, max_steps, smoke):
    raise ValueError(f"planted failure in {row_id}")


def sleepy_train(row_id, overrides, run_root, max_steps, smoke):
    time.sleep(300)
