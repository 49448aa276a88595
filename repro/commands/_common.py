"""Arguments shared by the commands that load rows."""


def add_row_args(p, many: bool = True, local: bool = True):
    """Row selection flags; `local` adds those of runs on this machine (--device, --no-progress),
    which mean nothing for jobs queued elsewhere (`repro submit`)."""
    if many:
        p.add_argument("rows", nargs="+", metavar="ROW", help="row ids or globs, e.g. demo/digits/nfe1 or 'slct/t2*'")
    else:
        p.add_argument("row", metavar="ROW", help="row id, e.g. slct/t2c/cauchy")
    p.add_argument("--smoke", action="store_true",
                   help="shrink the row to a tiny network, synthetic data and 2 steps (gin/smoke.gin)")
    p.add_argument("--set", action="append", default=[], metavar="BINDING",
                   help="extra gin binding applied last, e.g. --set 'TrainSpec.total_steps=100' (repeatable)")
    if local:
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    add_runs_arg(p)
    if local:
        p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_runs_arg(p, extra: str = "") -> None:
    p.add_argument("--runs", default=None,
                   help="run directories root (default $REPRO_RUNS or <project>/runs)" + extra)


def add_profile_arg(p, default="local", extra: str = "") -> None:
    """--profile, the cluster profile of jobs queued through submitit (`repro submit`, `repro verify --rerun`)."""
    p.add_argument("--profile", default=default, metavar="NAME",
                   help="slurm/profiles/<NAME>.toml or a path" + (f" (default: {default})" if default else "") + extra)


def load_rows(args):
    from repro.rows import expand, load_row

    ids = expand(args.rows) if hasattr(args, "rows") else [args.row]
    return [load_row(i, overrides=args.set, smoke=args.smoke) for i in ids]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 or a negative count would silently mean 'all' or 'none')."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return v
