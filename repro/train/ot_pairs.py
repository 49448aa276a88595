"""The next step's OT pairs, solved on a host thread while the current step runs.

Step k+1's draws (data order, flips, time indices, noise) are a pure function of (seed, k+1), so
the loop can draw them at the start of step k and hand the batch to one worker thread, which finds
the pairing permutation (repro.core.coupling.ot_permutation: host-only numpy/scipy work) while
the device runs step k. Step k+1 then applies it with a device gather. The permutation is the one
the objective would find itself, so results are bit-identical with or without the thread, and a
resumed run (whose first step solves in place) matches an uninterrupted one.

On CUDA the noise is drawn on the device: it is copied to pinned host memory behind its draw on
the stream and the worker waits on an event, so the main thread never waits for the device for
OT; the permutation goes back through pinned memory, non-blocking.

The worker's numpy GEMMs run on one OpenBLAS thread: OpenBLAS's own threads beside torch's
spinning OpenMP team oversubscribe the cores (2 cores, right after a torch op: the float32 cost
took 1,036 ms with OpenBLAS's 2 threads, 3.1 ms with one; benchmarks/ot_coupling.py).
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor

import torch


class NextPairs:
    def __init__(self, permutation):
        self._permutation = permutation     # (x0, z) -> int64 numpy permutation, host only
        self._pool = None
        self._blas = None

    def one_blas_thread(self):
        """A context in which OpenBLAS (numpy's, scipy's) uses one thread; the previous count after."""
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController   # installed with scikit-learn
                self._blas = ThreadpoolController().select(internal_api="openblas")
            except ImportError:
                self._blas = False
        return self._blas.limit(limits=1) if self._blas else contextlib.nullcontext()

    def submit(self, x0_host: torch.Tensor, z: torch.Tensor) -> Future:
        """Start finding the permutation pairing x0_host (on the host) with z (on any device)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ot-pairs")
        done = None
        if z.device.type == "cuda":
            host = torch.empty(z.shape, dtype=z.dtype, pin_memory=True)
            host.copy_(z, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            z = host

        def job():
            if done is not None:
                done.synchronize()
            with self.one_blas_thread():
                return self._permutation(x0_host, z)

        return self._pool.submit(job)

    @staticmethod
    def apply(z: torch.Tensor, pending: Future) -> torch.Tensor:
        """z paired by the permutation `pending` computes (the worker's exception is raised here)."""
        perm = torch.from_numpy(pending.result())
        if z.device.type == "cuda":
            perm = perm.pin_memory()
        return z[perm.to(z.device, non_blocking=True)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
