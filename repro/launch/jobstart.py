"""The interpreter entry of every job `repro submit` queues: submitit's job runner, started with
the preemption signal held back until a handler that can take it is in place.

SLURM may signal a job at any moment: at a preemption at once, and up to a minute before the
time limit. A Python process starts with the default action for USR2, which kills it (the job
ends FAILED), and submitit installs its handler only after it has unpickled the job. So the
sbatch script starts the task as `sh -c 'trap "" USR2; exec "$@"' ... python -m
repro.launch.jobstart ...`: the shell ignores the signal from its first instruction on, the
interpreter inherits that, and this module turns "ignored" into "blocked" (pending, not lost)
before it imports anything else. TrainJob unblocks it once its own handler is installed (the
signal, if it came meanwhile, is delivered then); EvalJob ignores it. A job that is neither
(tests' plain functions) keeps it blocked: SLURM's own preemption (kill and requeue after the
grace time) then applies.

Argument handling: submitit appends `-u -m submitit.core._submit FOLDER` to the interpreter
command; only FOLDER, the last argument, is used.

Test hook (tests/slurm/test_slurm_signals.py): REPRO_TEST_JOB_PAUSE="phase@restart=seconds,..."
makes the job pause at a named moment of its life, for up to that long, after printing
`repro.launch: test pause at phase@restart` to stderr, so that a test can signal it exactly
there. Phases: start (signal blocked, before submitit), imports (TrainJob: handler in place,
torch imported, the training module not yet), train (hooks ready, before the training
function), done (TrainJob: training finished, before returning), eval (EvalJob, signal ignored).
A pause ends early once the signal it waits for has arrived, except `imports`, which holds the
worker there while the main thread acts on the signal.
"""
from __future__ import annotations

import os
import signal
import sys
import time

PAUSE_ENV = "REPRO_TEST_JOB_PAUSE"


def preemption_signal() -> int:
    """The signal SLURM sends submitit's jobs (submitit's choice: SUBMITIT_PREEMPT_SIGNAL, USR2)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


def pause_for_test(phase: str, until=None) -> None:
    """The REPRO_TEST_JOB_PAUSE hook (module docstring); nothing unless that variable names `phase`."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    key = f"{phase}@{int(os.environ.get('SLURM_RESTART_COUNT') or 0)}"
    pauses = dict(item.strip().split("=", 1) for item in spec.split(",") if "=" in item)
    if key not in pauses:
        return
    print(f"repro.launch: test pause at {key}", file=sys.stderr, flush=True)
    end = time.monotonic() + float(pauses[key])
    while time.monotonic() < end and not (until is not None and until()):
        time.sleep(0.05)


def main(argv=None) -> None:
    sig = preemption_signal()
    # Block first, then leave "ignored": an ignored signal is discarded, a blocked one waits.
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    signal.signal(sig, signal.SIG_DFL)
    pause_for_test("start", lambda: sig in signal.sigpending())
    from submitit.core.submission import submitit_main

    argv = sys.argv[1:] if argv is None else argv
    sys.argv = [sys.argv[0], argv[-1]]
    submitit_main()


if __name__ == "__main__":
    main()
