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

    from repro.rows.summary import ASSUMPTION

    key = _cache_key(args)
    out = _cached(key)
    if out is None:
        out = _listing(args)
        _store(key, out)
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


def _listing(args) -> list:
    from repro.rows import all_row_ids, expand, load_row
    from repro.rows.summary import gpu_hours

    ids = expand(args.patterns) if args.patterns else all_row_ids()
    rows = [load_row(i, with_config=False) for i in ids]
    status = _statuses(rows, args.tables)
    return [{"id": r.id, "paper": r.claim.paper, "table": r.claim.table, "label": r.claim.label,
             "dataset": r.data.name, "nfe": r.claim.nfe, "training_key": r.training_key,
             "status": status.get(r.id, "no result"), "gpu_hours_est": round(gpu_hours(r), 1)} for r in rows]


# The listing is a pure function of the code, the row files, the records and the arguments; parsing
# 44 rows with gin and reading the registry with pandas cost about a second, so the listing is kept
# under $REPRO_CACHE keyed by all of them (file contents for code and rows; name, size and mtime for
# records, which are written once and never edited).
def _cache_key(args) -> str:
    import hashlib
    import os
    from pathlib import Path

    from repro.paths import gin_dir, tables_root

    h = hashlib.sha256(repr((sorted(args.patterns), str(args.tables))).encode())
    code = Path(__file__).resolve().parent.parent
    for base, pattern in ((code, "*.py"), (gin_dir(), "*.gin")):
        for p in sorted(base.rglob(pattern)):
            h.update(str(p.relative_to(base)).encode() + b"\0" + p.read_bytes())
    results = tables_root(args.tables) / "results"
    for d, dirs, files in sorted(os.walk(results)):
        dirs.sort()
        for f in sorted(files):
            st = os.lstat(os.path.join(d, f))
            h.update(f"{d}/{f}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode}".encode())
    return h.hexdigest()


def _cache_file():
    from repro.data.paths import cache_root

    return cache_root() / "list-cache.json"


def _cached(key: str):
    import json

    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return None
    return data.get("rows") if isinstance(data, dict) and data.get("key") == key else None


def _store(key: str, out: list) -> None:
    import json

    from repro.io import ReproError, atomic_write_text

    try:
        atomic_write_text(_cache_file(), json.dumps({"key": key, "rows": out}))
    except (ReproError, OSError):
        pass     # a read-only cache only costs speed

