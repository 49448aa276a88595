"""`repro verify RECORD [--ckpt PATH]`: re-check a result record against its checkpoint (the
checks and exit codes: repro/results/verify.py)."""
from __future__ import annotations

HELP = "re-check a result record against its checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("record", help="a result record, tables/results/<row>/<stamp>.json")
    parser.add_argument("--ckpt", metavar="PATH", default=None,
                        help="the checkpoint, where it is not at the recorded path")


def run(args) -> int:
    from repro.results.verify import verify_record

    result = verify_record(args.record, ckpt=args.ckpt)
    print("\n".join(result.lines))
    return result.exit_code
