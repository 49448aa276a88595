"""Training: `train_row` (the loop), checkpoints and `load_for_eval`."""
from repro.train.loop import train_row
from repro.train.stopping import CheckpointRequested, request_checkpoint, wait_checkpoint_saved
from repro.train.evalload import load_for_eval

__all__ = ["train_row", "request_checkpoint", "wait_checkpoint_saved", "CheckpointRequested", "load_for_eval"]
