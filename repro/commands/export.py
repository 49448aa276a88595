"""`repro export RECORD... -o FILE.tar.gz [--with-checkpoints]`: records for a reviewer, as one
archive (repro/results/archive.py)."""
from __future__ import annotations

HELP = "pack result records (+ operative configs, optionally checkpoints) into one .tar.gz"


def add_arguments(parser) -> None:
    parser.add_argument("records", nargs="+", metavar="RECORD", help="result records, tables/results/<row>/<stamp>.json")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.tar.gz", help="the archive to write")
    parser.add_argument("--with-checkpoints", action="store_true",
                        help="add each record's checkpoint, stored by its sha256")
    parser.add_argument("--ckpt-dir", metavar="DIR", action="append", default=[],
                        help="where to look for checkpoints not at their recorded path (repeatable)")


def run(args) -> int:
    from repro.results.archive import export_records

    man = export_records(args.records, args.output, with_checkpoints=args.with_checkpoints,
                         ckpt_dirs=args.ckpt_dir)
    print(f"wrote {args.output}: {len(man['records'])} record(s), {len(man['checkpoints'])} checkpoint(s); "
          f"the receiver runs `repro import {args.output}`")
    return 0
