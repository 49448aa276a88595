HELP = "write static report pages (curves, sample grids, recipe, provenance) for rows or a table"
DESCRIPTION = """Write one page per row, as index.html and the same content as index.md, with the
images beside them: the in-training metric against the step (with the paper's number and its
tolerance band; for the demo the untrained value and the held-out floor), loss, N(k), c and
steps/s from the run's metrics.jsonl, the sample grid of every NFE, the warnings the loop logged,
the recipe with its paper-vs-code switches and unconfirmed settings, and the record's provenance.

A row whose result the tables show gets <tables>/reports/<row id>/ (the tables link it); any
other row with a run directory here gets <run dir>/report/<row>/. Naming a table (demo, slct_table2, ...), or rows that
span more than one row of a table ('slct/t2*', demo/digits), adds the table's page: all its rows
on one figure, paper vs ours, linking each row's page.

Loads no torch."""


def add_arguments(p):
    p.add_argument("targets", nargs="+", metavar="ROWS|TABLE",
                   help="row ids or globs (e.g. demo/digits, 'slct/t2*'), or a table name "
                        "(demo, ict_cifar10, ict_imagenet64, slct_table1, slct_table2)")
    p.add_argument("--smoke", action="store_true", help="the rows' smoke variants (runs of `repro run --smoke`)")
    p.add_argument("--set", action="append", default=[], metavar="BINDING",
                   help="extra gin binding the run was made with (repeatable), as for repro run")
    p.add_argument("--runs", default=None, help="run directories root (default $REPRO_RUNS or <project>/runs)")
    p.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or <project>/tables)")
    p.add_argument("--no-svg", action="store_true",
                   help="PNG figures only (pages under the tables are always PNG only: they are committed)")
    p.add_argument("--force", action="store_true",
                   help="rewrite a registry report even when its run directory is not on this machine")


def run(args) -> int:
    from repro.report import build, table
    from repro.rows import all_rows, expand, load_row

    tables = set(table.table_names())
    ids, named_tables, many = [], [], False
    everything = None
    for t in args.targets:
        name = t[:-3] if t.endswith(".md") else t
        if name in tables:
            everything = everything if everything is not None else all_rows()
            named_tables.append(name)
            ids += [r.id for r in table.rows_of_table(name, everything) if r.id not in ids]
            continue
        hits = expand([t])
        many = many or len(hits) > 1
        ids += [i for i in hits if i not in ids]
    rows = {i: load_row(i, overrides=args.set, smoke=args.smoke) for i in ids}
    pages, skipped = {}, []
    for i, row in rows.items():
        w = build.row_page(row, runs=args.runs, tables=args.tables, svg=not args.no_svg, force=args.force)
        if w is None:
            skipped.append(i)
            continue
        pages[i] = w
        print(f"wrote {w.html}  (and {w.md.name})" + "".join(f"\n  note: {n}" for n in w.notes))
    for i in skipped:
        print(f"{i}: no run directory here and no result the tables show; nothing to report")
    wanted = list(named_tables)
    if (many or len(ids) > 1) and not (args.smoke or args.set):   # tables hold the rows as written
        wanted += [n for n in dict.fromkeys(table.table_of(r) for r in rows.values()) if n and n not in wanted]
    if wanted:
        everything = everything if everything is not None else all_rows()
        for name in wanted:
            w = table.table_page(name, everything, pages, runs=args.runs, tables=args.tables,
                                 svg=not args.no_svg)
            print(f"wrote {w.html}  (and {w.md.name}): table {name}")
    return 0
