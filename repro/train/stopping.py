"""Stopping a training run cleanly: a checkpoint after the current step, then out.

Two ways in: SLURM preemption (repro/launch/slurm.py calls `request_checkpoint` from its signal
handler and waits with `wait_checkpoint_saved`), and SIGTERM/SIGINT while the loop runs in the
main thread (`save_on_signals`). The loop asks `requested()` at each step and calls `saved()`
after writing the checkpoint; the exceptions tell its caller why it returned early.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

from repro.io import ReproError

_checkpoint_requested = threading.Event()
_checkpoint_saved = threading.Event()


def request_checkpoint() -> None:
    """Ask the running loop to checkpoint after the current step and return (SLURM preemption)."""
    _checkpoint_saved.clear()
    _checkpoint_requested.set()


def wait_checkpoint_saved(timeout: float) -> bool:
    return _checkpoint_saved.wait(timeout)


class CheckpointRequested(Exception):
    """Raised out of train_row after it saved a checkpoint because request_checkpoint() was called."""


class TrainingStopped(ReproError):
    """SIGTERM or SIGINT stopped training after a checkpoint; the CLI exits 128 + signal number."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum


_stop_signal: list = [None]     # the signal that asked the loop to stop, while one is pending


@contextlib.contextmanager
def save_on_signals():
    """While training: SIGTERM/SIGINT save a checkpoint after the current step, then stop.

    `kill`, `timeout` and most schedulers send SIGTERM; Ctrl-C sends SIGINT. Handlers someone else
    installed (submitit's on SLURM) are left alone. A second signal stops at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if _stop_signal[0] is not None:
            raise KeyboardInterrupt
        _stop_signal[0] = signum
        print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping "
              f"(send it again to stop now)", file=sys.stderr, flush=True)
        request_checkpoint()

    previous = {}
    for s in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler):
            previous[s] = signal.signal(s, handler)
    try:
        yield
        late = _stop_signal[0]
        if late is not None:     # arrived after the final checkpoint was written
            _checkpoint_requested.clear()
            raise TrainingStopped(late, f"stopped by {signal.Signals(late).name} after training finished; "
                                        f"its final checkpoint is saved; run the same command again to go on")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _stop_signal[0] = None


def requested() -> bool:
    return _checkpoint_requested.is_set()


def saved(last_saved, step: int) -> None:
    """The loop wrote the requested checkpoint `last_saved`: release the waiter, then stop with
    TrainingStopped (a signal asked) or CheckpointRequested (SLURM asked)."""
    _checkpoint_requested.clear()
    _checkpoint_saved.set()
    sig = _stop_signal[0]
    if sig is not None:
        name = signal.Signals(sig).name
        raise TrainingStopped(sig, f"stopped by {name} after step {step}; checkpoint: {last_saved}; "
                                   f"run the same command again to resume")
    raise CheckpointRequested(str(last_saved))
