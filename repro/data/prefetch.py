"""Overlap data gathering with the training step.

`prefetch(train_set, batches, device)` runs `train_set.batch` in a background thread, `depth`
batches ahead. On CUDA the CPU tensors are pinned so the host→device copy is asynchronous
(`non_blocking=True`) and overlaps the previous step; on CPU it still hides the memmap gather.
The index order comes from the caller, so prefetching changes no result.
"""
from __future__ import annotations

import queue
import threading

import torch

_END = object()


def prefetch(train_set, batches, device=None, depth: int = 2):
    """Yield (x, labels) on `device` for each item of `batches`: indices or (indices, flip_mask)."""
    device = torch.device(device or "cpu")
    pin = device.type == "cuda" and torch.cuda.is_available()
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in batches:
                if stop.is_set():
                    return
                idx, flip = item if isinstance(item, tuple) else (item, None)
                x, y = train_set.batch(idx, flip)
                if pin:
                    x = x.pin_memory()
                    y = None if y is None else y.pin_memory()
                q.put((x, y))
            q.put(_END)
        except BaseException as e:          # hand the error to the consumer thread
            q.put(e)

    t = threading.Thread(target=work, daemon=True, name="repro-prefetch")
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            x, y = item
            yield (x.to(device, non_blocking=pin),
                   None if y is None else y.to(device, non_blocking=pin))
    finally:
        stop.set()
        while t.is_alive():                  # unblock a worker waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.05)
