"""`repro verify RECORD [--ckpt PATH]`: re-check a result record against its checkpoint (the
checks and exit codes: repro/results/verify.py)."""
from __future__ import annotations

HELP = "re-check a result record against its checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("record", help="a result record, tables/results/<row>/<stamp>.json")
    parser.add_argument("--ckpt", metavar="PATH", default=None,
                        help="the checkpoint, where it is not at the recorded path")
    parser.add_argument("--ckpt-dir", metavar="DIR", action="append", default=[],
                        help="look here for the checkpoint with the recorded sha256 (as <sha256>.pt, "
                             "then any *.pt below); repeatable. Also searched: "
                             "$REPRO_CACHE/checkpoints/ and <tables>/checkpoints/")


def run(args) -> int:
    from repro.results.verify import verify_record

    result = verify_record(args.record, ckpt=args.ckpt, ckpt_dirs=args.ckpt_dir)
    print("\n".join(result.lines))
    return result.exit_code
