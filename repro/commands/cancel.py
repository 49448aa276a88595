HELP = "cancel submitted jobs"
DESCRIPTION = """Cancel jobs by id, or --all jobs recorded in RUNS/slurm/jobs.jsonl that have not finished
(held jobs of an interrupted `repro submit` included)."""

from repro.io import ReproError


def add_arguments(p):
    p.add_argument("job_ids", nargs="*", metavar="JOBID", help="SLURM job ids (arrays: 123 or 123_4)")
    p.add_argument("--all", action="store_true", help="every recorded job that has not finished")
    p.add_argument("--runs", default=None, help="run directories root (default $REPRO_RUNS or <project>/runs)")


def run(args) -> int:
    from repro.launch import joblog, jobstates
    from repro.paths import runs_root

    if bool(args.job_ids) == bool(args.all):
        raise ReproError("give job ids or --all (not both)")
    root = runs_root(args.runs).resolve()
    if args.all and not joblog.load_journal(root):
        # nothing was ever submitted from here: whether SLURM is up does not matter
        print(f"no jobs recorded in {joblog.joblog_path(root)}; nothing to cancel")
        return 0
    ids = jobstates.cancel_jobs(root, args.job_ids or None)
    print(f"cancelled {' '.join(ids)}" if ids else "nothing to cancel")
    return 0
