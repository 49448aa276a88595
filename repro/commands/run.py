HELP = "train rows, evaluate them, record the results and print their table (the default job)"
DESCRIPTION = """The whole path for each row: train (once per training key, resuming if a run
exists), sample with the row's sampler, score with the row's protocol, save a sample grid,
write a result record into the registry and print the table.

What a run changes under tables/: each record is a new file under tables/results/ (that is how
a result is published), and the tables/*.md it changes are re-rendered; the run lists exactly
those files. A table shows a record only when its provenance is clean (git commit known, no
uncommitted changes outside tables/); any other record stays in the registry and the table keeps
its previous clean result. With --smoke the records go beside the runs
(<run dir>/eval/<row>/record.json) and nothing under tables/ is touched.

Measured noise: --seeds K trains each row K times (TrainSpec.seed 0..K-1) and --eval-seeds J
samples each training J times (EvalSpec.seed = the row's + 0..J-1): one record per pair, and the
tables show mean ± std over them (repro/results/spread.py says which records are pooled).

The default job:  repro run demo/digits/nfe1 demo/digits/nfe2"""

from repro.commands._common import add_row_args, positive_int, load_rows


def add_arguments(p):
    add_row_args(p)
    p.add_argument("--steps", type=positive_int, default=None, help="stop training after this many steps")
    p.add_argument("--num", type=positive_int, default=None, help="number of samples to score (default: the row's)")
    p.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or <project>/tables)")
    p.add_argument("--no-record", action="store_true", help="do not write result records")
    p.add_argument("--seeds", type=positive_int, default=None, metavar="K",
                   help="train each row with TrainSpec.seed = 0..K-1 (each seed is its own training "
                        "key and run directory); one record per seed, pooled by the tables as mean ± std")
    p.add_argument("--eval-seeds", type=positive_int, default=None, metavar="J",
                   help="sample each trained row with EvalSpec.seed = the row's seed + 0..J-1; one "
                        "record per (training seed, sampling seed)")


def run(args) -> int:
    import time

    from tabulate import tabulate

    from repro.launch.local import run_rows

    t0 = time.perf_counter()
    rows = seeded_rows(args)
    results = run_rows(rows, max_steps=args.steps, num=args.num, runs=args.runs, tables=args.tables,
                       record=not args.no_record, device=args.device, progress=not args.no_progress)
    table = []
    for r in results:
        row = r["row"]
        line = {"row": row.id, "NFE": row.claim.nfe}
        for k, v in r["metrics"].items():
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
        from repro.results.evaluate import record_line

        for r in results:
            print(record_line(r["record_path"]))
        published = [r["record_path"] for r in results if not r["row"].smoke]
        if published:
            _refresh_tables(args.tables, published, _write_reports(results, args))
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


def seeded_rows(args):
    """The rows, repeated over --seeds (training) and --eval-seeds (sampling) as gin overrides,
    so that each record names its seeds in row_args.overrides and `repro verify --rerun`
    re-creates it. Without either flag: the rows as given."""
    from repro.rows import load_row

    base = load_rows(args)
    if not args.seeds and not args.eval_seeds:
        return base
    ids = [r.id for r in base]
    out = []
    for rid, row in zip(ids, base):
        train = [f"TrainSpec.seed={i}" for i in range(args.seeds)] if args.seeds else [None]
        sample = ([f"EvalSpec.seed={row.eval.seed + j}" for j in range(args.eval_seeds)]
                  if args.eval_seeds else [None])
        for t in train:
            for e in sample:
                extra = [x for x in (t, e) if x]
                out.append(load_row(rid, overrides=list(args.set) + extra, smoke=args.smoke))
    # rows of one training key next to each other: trained once, then evaluated per sampling seed
    order = {k: n for n, k in enumerate(dict.fromkeys(r.training_key for r in out))}
    return sorted(out, key=lambda r: order[r.training_key])


def _describe(metric: str) -> str:
    return {
        "w2_pixels": "exact 2-Wasserstein distance in pixel space (POT ot.emd2, uint8 scale) to 500 held-out "
                     "digits; lower is better; '_untrained' = same network at initialisation, "
                     "'_heldout_baseline' = 500 training digits vs the held-out ones (the floor)",
        "fd_pixels": "Frechet distance of Gaussians fitted to raw pixels",
        "fid": "FID (clean-fid)",
    }.get(metric, metric)


def _write_reports(results, args) -> list:
    """The report page of each new result the tables will show (they link it), drawn now, while
    the run directory is here; results the tables hide keep their page beside the run."""
    from repro.report.build import row_page
    from repro.results.records import read_record
    from repro.results.selection import hidden_reason

    pages = []
    for r in results:
        if r["row"].smoke or hidden_reason(read_record(r["record_path"])) is not None:
            continue
        w = row_page(r["row"], runs=args.runs, tables=args.tables)
        if w is not None:
            pages.append(w.html.parent)   # index.html, index.md and the images they show
    return pages


def _refresh_tables(root, new_records, pages=()):
    """Re-render the tables and list every file under the tables root this run created or
    changed, so that nothing there changes without the user being told."""
    import os
    import subprocess
    from pathlib import Path

    from repro.results.selection import smoke_paths
    from repro.results.table_files import render_registry, write_tables

    rendered, root, records = render_registry(root, with_records=True)
    for path in smoke_paths(records):
        print(f"warning: {path}: a smoke record in the registry; the tables skip it; delete it")
    existed = {name for name in rendered if (Path(root) / name).is_file()}
    changed = write_tables(rendered, root)
    touched = [("created", Path(p)) for p in new_records] + [("wrote the report", Path(p)) for p in pages]
    touched += [("changed" if p.name in existed else "created", p) for p in changed]
    shown = os.path.relpath(root) if not os.path.relpath(root).startswith("..") else str(root)
    print(f"files under {shown}/ this run created or changed ({len(touched)}):")
    for what, path in touched:
        print(f"  {what} {path}")
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True, timeout=10).stdout.strip() == "true"
    except (OSError, subprocess.SubprocessError):
        inside = False
    if inside:
        print(f"`git status {shown}/` lists them; `git diff {shown}/` shows the changed tables")
