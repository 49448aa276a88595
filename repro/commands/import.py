"""`repro import FILE.tar.gz`: add the records (and checkpoints) of an export to this registry;
everything is checked before anything is written, and no record is overwritten."""
from __future__ import annotations

HELP = "add the records (and checkpoints) of a `repro export` archive to the registry"


def add_arguments(parser) -> None:
    parser.add_argument("archive", metavar="FILE.tar.gz", help="an archive `repro export` wrote")
    parser.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or <project>/tables)")


def run(args) -> int:
    from repro.results.archive import import_archive

    res = import_archive(args.archive, tables=args.tables)
    for p in res["records"]:
        print(f"imported {p}")
    for p in res["same"]:
        print(f"already there (identical): {p}")
    for p in res["checkpoints"]:
        print(f"checkpoint {p}")
    print(f"{len(res['records'])} record(s) imported; `repro tables` re-renders the tables, "
          f"`repro verify RECORD` checks one")
    return 0
