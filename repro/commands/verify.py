"""`repro verify RECORD [--ckpt PATH]`: re-check a result record against its checkpoint (the
checks and exit codes: repro/results/verify.py)."""
from __future__ import annotations

HELP = "re-check a result record against its checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("record", help="a result record, tables/results/<row>/<stamp>.json")
    parser.add_argument("--ckpt", metavar="PATH", default=None,
                        help="the checkpoint, where it is not at the recorded path")
    parser.add_argument("--rerun", action="store_true",
                        help="re-create the run instead: train and evaluate the record's row with its "
                             "overrides and seeds at its commit (a temporary git worktree when this "
                             "checkout differs), then compare every number: bitwise where the "
                             "environment matches, else within the measured noise")
    parser.add_argument("--device", default=None, help="with --rerun: cpu, cuda, ... (default: the run's)")
    parser.add_argument("--ckpt-dir", metavar="DIR", action="append", default=[],
                        help="look here for the checkpoint with the recorded sha256 (as <sha256>.pt, "
                             "then any *.pt below); repeatable. Also searched: "
                             "$REPRO_CACHE/checkpoints/ and <tables>/checkpoints/")


def run(args) -> int:
    if args.rerun:
        from repro.results.rerun import rerun_record

        result = rerun_record(args.record, device=args.device)
        print("\n".join(result.lines))
        return result.exit_code
    from repro.results.verify import verify_record

    result = verify_record(args.record, ckpt=args.ckpt, ckpt_dirs=args.ckpt_dir)
    print("\n".join(result.lines))
    return result.exit_code
