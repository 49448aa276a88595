HELP = "train a row (resumes from its run directory)"
DESCRIPTION = """Train the rows given (rows that share a training key train once) into
runs/<training key>/: operative_config.gin, row.json, metrics.jsonl and ckpt/step-*.pt.
Re-running resumes bit-exactly from the newest checkpoint."""

from repro.commands._common import add_row_args, positive_int, load_rows


def add_arguments(p):
    add_row_args(p)
    p.add_argument("--steps", type=positive_int, default=None,
                   help="stop after this many steps (the curriculum still spans the row's full K)")


def run(args) -> int:
    from repro.launch.local import run_dir_for
    from repro.rows import group_by_training_key
    from repro.train import train_row

    for members in group_by_training_key(load_rows(args)).values():
        row = members[0]
        out = run_dir_for(row, args.runs)
        print(f"training {row.id} (key {row.training_key}, K={row.total_steps:,}) -> {out}")
        train_row(row, out, max_steps=args.steps, progress=not args.no_progress, device=args.device)
    return 0
