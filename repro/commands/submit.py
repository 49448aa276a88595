HELP = "send rows to SLURM through submitit"
DESCRIPTION = """Submit rows to SLURM: rows sharing a training key train once (one job; all trainings
of a submission form one job array), and each key's rows are evaluated by a job that starts
after its training succeeded (afterok). Resources come from a profile in slurm/profiles/
(or a path to a .toml file). --dry-run prints the jobs and their sbatch files, submits nothing.
Jobs are recorded in RUNS/slurm/jobs.jsonl for `repro status` and `repro cancel`."""

from repro.commands._common import add_row_args, positive_int


def add_arguments(p):
    add_row_args(p)
    p.add_argument("--profile", default="local", help="slurm/profiles/<NAME>.toml or a path (default: local)")
    p.add_argument("--dry-run", action="store_true", help="print jobs, resources and sbatch files; submit nothing")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop training after this many steps")
    p.add_argument("--num", type=positive_int, default=None, help="samples per evaluation (default: the row's)")
    p.add_argument("--no-eval", action="store_true", help="submit the trainings only")


def run(args) -> int:
    from repro.commands._common import load_rows
    from repro.launch import slurm
    from repro.launch.profiles import load_profile
    from repro.paths import runs_root

    profile = load_profile(args.profile)
    root = runs_root(args.runs).resolve()
    rows = load_rows(args)
    plan = slurm.plan_jobs(rows, root, overrides=tuple(args.set), smoke=args.smoke,
                           max_steps=args.max_steps, num=args.num)
    slurm.submit_planned(plan, profile, root, dry_run=args.dry_run, evaluate=not args.no_eval)
    return 0
