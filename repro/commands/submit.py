HELP = "send rows to SLURM through submitit"
DESCRIPTION = """Submit rows to SLURM: rows sharing a training key train once (one job; all trainings
of a submission form one job array), and each key's rows are evaluated by a job that starts
after its training succeeded (afterok), with the profile's evaluation resources. Resources come
from a profile in slurm/profiles/ (or a path to a .toml file).

Submitting again is safe: a key with a live training job or a final checkpoint is not trained
again, a row with a live evaluation job or a record for this commit and protocol is not
evaluated again (each said in one line; --force re-submits the finished ones). The inputs every
job needs (prepared data, fetched assets) are checked here before anything is queued. Jobs are
queued held and released once the whole plan is in; a `repro submit` that was killed is
completed by running it again. --dry-run prints the jobs, their GPU-hours and sbatch files.
Jobs are recorded in RUNS/slurm/jobs.jsonl for `repro status` and `repro cancel`."""

from repro.commands._common import add_profile_arg, add_row_args, positive_int


def add_arguments(p):
    add_row_args(p, local=False)
    add_profile_arg(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print jobs, resources, GPU-hours and sbatch files; submit nothing")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop training after this many steps")
    p.add_argument("--num", type=positive_int, default=None, help="samples per evaluation (default: the row's)")
    p.add_argument("--no-eval", action="store_true", help="submit the trainings only")
    p.add_argument("--force", action="store_true",
                   help="also submit keys already trained and rows with a current record (live jobs are never doubled)")


def run(args) -> int:
    from repro.commands._common import load_rows
    from repro.launch import slurm, submission
    from repro.launch.profiles import load_profile
    from repro.paths import runs_root

    profile = load_profile(args.profile)
    root = runs_root(args.runs).resolve()
    rows = load_rows(args)
    submission.submit_rows(rows, profile, root, overrides=tuple(args.set), smoke=args.smoke, max_steps=args.max_steps,
                      num=args.num, dry_run=args.dry_run, force=args.force, evaluate=not args.no_eval)
    return 0
