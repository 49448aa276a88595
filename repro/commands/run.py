HELP = "train rows, evaluate them, record the results and print their table (the default job)"
DESCRIPTION = """The whole path for each row: train (once per training key, resuming if a run
exists), sample with the row's sampler, score with the row's protocol, save a sample grid,
write a result record into the registry and print the table.

The default job:  repro run demo/digits/nfe1 demo/digits/nfe2"""

from repro.commands._common import add_row_args, load_rows


def add_arguments(p):
    add_row_args(p)
    p.add_argument("--steps", type=int, default=None, help="stop training after this many steps")
    p.add_argument("--num", type=int, default=None, help="number of samples to score (default: the row's)")
    p.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or ./tables)")
    p.add_argument("--no-record", action="store_true", help="do not write result records")


def run(args) -> int:
    import time

    from tabulate import tabulate

    from repro.pipeline import run_rows

    t0 = time.perf_counter()
    rows = load_rows(args)
    results = run_rows(rows, max_steps=args.steps, num=args.num, runs=args.runs, tables=args.tables,
                       record=not args.no_record, device=args.device, progress=not args.no_progress)
    table = []
    for r in results:
        row = r["row"]
        line = {"row": row.id, "NFE": row.claim.nfe}
        for k, v in r["ours"].items():
            line[k] = v
        for k in ("fid", "precision", "recall"):
            if getattr(row.claim, k) is not None:
                line[f"paper {k}"] = getattr(row.claim, k)
        table.append(line)
    metric = rows[0].eval.metric
    print()
    print(tabulate(table, headers="keys", tablefmt="github", floatfmt=".4g"))
    print(f"\nmetric: {_describe(metric)}; samples from the EMA {rows[0].eval.ema} weights.")
    if not args.no_record:
        for r in results:
            print(f"record: {r['record_path']}")
        _refresh_tables(args.tables)
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


def _describe(metric: str) -> str:
    return {
        "w2_pixels": "exact 2-Wasserstein distance in pixel space (POT ot.emd2, uint8 scale) to 500 held-out "
                     "digits; lower is better; '_untrained' = same network at initialisation, "
                     "'_heldout_baseline' = 500 training digits vs the held-out ones (the floor)",
        "fd_pixels": "Frechet distance of Gaussians fitted to raw pixels",
        "fid": "FID (clean-fid)",
    }.get(metric, metric)


def _refresh_tables(root):
    from repro.tables import render_registry, write_tables

    for path in write_tables(*render_registry(root)):
        print(f"table: {path}")
