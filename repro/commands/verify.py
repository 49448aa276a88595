"""`repro verify RECORD [--ckpt PATH]`: re-check a result record against its checkpoint (the
checks and exit codes: repro/results/verify.py); `--rerun` re-creates the run instead
(repro/results/rerun.py), here or, with --profile, as a SLURM job (repro/launch/rerun.py)."""
from __future__ import annotations

from repro.commands._common import add_profile_arg, add_runs_arg

HELP = "re-check a result record against its checkpoint"
DESCRIPTION = """Re-check a result record: find its checkpoint by sha256, re-evaluate it, compare every
number (exit 0: agrees, 1: disagrees, 2: bad input).

--rerun re-creates the run instead (train + evaluate the record's row with its overrides and seeds,
by the code of its commit) and compares every number: bitwise where the environment matches, else
within the measured noise. Without --profile it runs here; with --profile it runs as one SLURM job
queued as `repro submit` queues (same profile, submitit executor and job log: `repro status` lists
it), with its code and outputs under RUNS/slurm/rerun/, and this command waits for it and prints
the same comparison:

  repro verify --rerun tables/results/<row>/<record>.json
  repro verify --rerun tables/results/<row>/<record>.json --profile example-a100"""


def add_arguments(parser) -> None:
    parser.add_argument("record", help="a result record, tables/results/<row>/<stamp>.json")
    parser.add_argument("--ckpt", metavar="PATH", default=None,
                        help="the checkpoint, where it is not at the recorded path")
    parser.add_argument("--rerun", action="store_true",
                        help="re-create the run instead: train and evaluate the record's row with its "
                             "overrides and seeds at its commit (a temporary git worktree when this "
                             "checkout differs), then compare every number: bitwise where the "
                             "environment matches, else within the measured noise")
    parser.add_argument("--device", default=None, help="with --rerun: cpu, cuda, ... (default: the run's)")
    add_profile_arg(parser, default=None,
                    extra="; with --rerun: run the re-run as a SLURM job with this profile, as `repro submit` "
                          "does, and wait for it (default: re-run here)")
    add_runs_arg(parser, extra="; with --rerun --profile: the SLURM job log and the re-run's files go under "
                               "RUNS/slurm/ (on a filesystem the compute nodes read)")
    parser.add_argument("--ckpt-dir", metavar="DIR", action="append", default=[],
                        help="look here for the checkpoint with the recorded sha256 (as <sha256>.pt, "
                             "then any *.pt below); repeatable. Also searched: "
                             "$REPRO_CACHE/checkpoints/ and <tables>/checkpoints/")


def run(args) -> int:
    from repro.io import ReproError

    if args.profile and not args.rerun:
        raise ReproError("--profile: only with --rerun (a re-check of the checkpoint runs here); "
                         "add --rerun, or drop --profile")
    if args.runs and not args.profile:
        raise ReproError("--runs: only with --rerun --profile (it says where the SLURM job's files go); "
                         "add --profile NAME, or drop --runs")
    if args.rerun and args.profile:
        from repro.launch.rerun import rerun_on_slurm

        result = rerun_on_slurm(args.record, args.profile, runs=args.runs, device=args.device)
        print("\n".join(result.lines))
        return result.exit_code
    if args.rerun:
        from repro.results.rerun import rerun_record

        result = rerun_record(args.record, device=args.device)
        print("\n".join(result.lines))
        return result.exit_code
    from repro.results.verify import verify_record

    result = verify_record(args.record, ckpt=args.ckpt, ckpt_dirs=args.ckpt_dir)
    print("\n".join(result.lines))
    return result.exit_code
