HELP = "cancel submitted jobs"
DESCRIPTION = """Cancel jobs by id, or --all jobs recorded in RUNS/slurm/jobs.jsonl that have not finished."""

from repro.io import ReproError


def add_arguments(p):
    p.add_argument("job_ids", nargs="*", metavar="JOBID", help="SLURM job ids (arrays: 123 or 123_4)")
    p.add_argument("--all", action="store_true", help="every recorded job that has not finished")
    p.add_argument("--runs", default=None, help="run directories root (default $REPRO_RUNS or ./runs)")


def run(args) -> int:
    from repro import jobs
    from repro.pipeline import runs_root

    if bool(args.job_ids) == bool(args.all):
        raise ReproError("give job ids or --all (not both)")
    ids = jobs.cancel_jobs(runs_root(args.runs).resolve(), args.job_ids or None)
    print(f"cancelled {' '.join(ids)}" if ids else "nothing to cancel")
    return 0
