HELP = "every row: id, paper, table, label, dataset, NFE, training key, status, est. GPU-hours"
DESCRIPTION = """List every row under gin/ with its claim, training key (rows sharing a key train
once), status against the registry (no result / within tolerance / outside tolerance) and an
estimate of the GPU-hours its training costs (the assumption is printed below the table)."""


def add_arguments(p):
    p.add_argument("patterns", nargs="*", help="row ids or globs (default: all rows)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or <project>/tables)")


def run(args) -> int:
    import json

    from repro.rows import all_row_ids, expand, load_row
    from repro.rows.summary import ASSUMPTION, gpu_hours

    ids = expand(args.patterns) if args.patterns else all_row_ids()
    rows = [load_row(i, with_config=False) for i in ids]
    status = _statuses(rows, args.tables)
    out = [{"id": r.id, "paper": r.claim.paper, "table": r.claim.table, "label": r.claim.label,
            "dataset": r.data.name, "nfe": r.claim.nfe, "training_key": r.training_key,
            "status": status.get(r.id, "no result"), "gpu_hours_est": round(gpu_hours(r), 1)} for r in rows]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    from tabulate import tabulate

    print(tabulate(out, headers="keys", tablefmt="github", floatfmt=".1f"))
    keys = {r["training_key"]: r["gpu_hours_est"] for r in out}
    print(f"\n{len(out)} rows, {len(keys)} distinct trainings, {sum(keys.values()):,.0f} GPU-hours estimated "
          f"(each training counted once).\n{ASSUMPTION}")
    return 0


def _statuses(rows, root):
    from repro.results.records import load_records
    from repro.results.tolerances import row_status

    df = load_records(root)
    return {r.id: row_status(r, df) for r in rows}
