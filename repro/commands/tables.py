"""`repro tables [--check] [--root DIR]`: render tables/*.md from the result records.

Exit codes: 0 written / up to date; 1 (--check) a table is stale or missing, with a unified
diff on stdout; 2 a record is invalid (the message names the file) or a row file is broken, or
(--check) a smoke record lies in the registry (each named on stderr). The tables never show a
smoke record; without --check one is skipped with a warning naming it.
"""
from __future__ import annotations

HELP = "render tables/*.md from the registry (--check: fail when stale)"


def add_arguments(parser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff when a table is stale or missing")
    parser.add_argument("--root", metavar="DIR", default=None,
                        help="registry root holding results/ and the *.md tables "
                             "(default: $REPRO_TABLES or <project>/tables)")


def run(args) -> int:
    import sys

    from repro.results import table_files
    from repro.results.selection import select_shown, shown_mask, smoke_paths

    rendered, root, records = table_files.render_registry(args.root, with_records=True)
    smoke = smoke_paths(records)
    for path in smoke:
        print(f"{'error' if args.check else 'warning'}: {path}: a smoke record (row_args.smoke "
              f"true) in the registry; smoke records never enter tables: delete it",
              file=sys.stderr)
    hidden = int((~shown_mask(records)).sum()) - len(smoke) if len(records) else 0
    if hidden:
        print(f"repro tables: {hidden} record(s) kept in the registry but not shown: provenance "
              f"not clean (git commit unknown or uncommitted changes when written)")
    unknown = records.attrs.get("unknown_rows", [])
    for path in unknown:
        print(f"{'error' if args.check else 'warning'}: {path}: a record of a row that does not exist "
              f"(no gin file); no table shows it: restore the row or move the record out",
              file=sys.stderr)
    if args.check and unknown:
        print(f"repro tables: {len(unknown)} record(s) of unknown rows under {root}/results",
              file=sys.stderr)
        return 2
    from repro.results.records import stale_temp_files
    for tmp in stale_temp_files(root):
        if args.check:
            print(f"warning: {tmp}: a temp file left by a killed writer; `repro tables` removes it",
                  file=sys.stderr)
        else:
            import os
            os.unlink(tmp)
            print(f"removed {tmp} (a temp file left by a killed writer)", file=sys.stderr)
    if args.check and smoke:
        print(f"repro tables: {len(smoke)} smoke record(s) under {root}/results; "
              f"delete them and re-run", file=sys.stderr)
        return 2
    if args.check:
        diffs = table_files.check_tables(rendered, root)
        for d in diffs:
            print(d, end="" if d.endswith("\n") else "\n")
        missing = table_files.missing_reports(root, rendered)
        for path, link in missing:
            print(f"{path}: links {link}, which does not exist; `repro report ROW` writes it "
                  f"(from the run directory), then `repro tables`")
        if diffs:
            print(f"repro tables: {len(diffs)} of {len(rendered)} tables under {root} are stale "
                  f"or missing; run `repro tables` and commit them")
            return 1
        if missing:
            print(f"repro tables: {len(missing)} report link(s) under {root} go nowhere")
            return 1
        print(f"repro tables: {len(rendered)} tables under {root} are up to date")
        return 0
    changed = table_files.write_tables(rendered, root)
    for path in changed:
        print(f"wrote {path}")
    print(f"repro tables: {len(changed)} written, {len(rendered) - len(changed)} unchanged")
    shown = select_shown(records)
    ids = set() if shown is None or len(shown) == 0 else set(shown["row"])
    ids -= records.attrs.get("unlinked_rows", set())
    lacking = sorted(ids - table_files.existing_reports(root, ids))
    if lacking:
        print(f"repro tables: {len(lacking)} shown result(s) have no report page to link: "
              f"`repro report {' '.join(lacking)}` writes them (then run `repro tables` again)")
    return 0
