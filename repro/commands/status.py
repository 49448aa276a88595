HELP = "state of submitted jobs"
DESCRIPTION = """State of the jobs `repro submit` recorded in RUNS/slurm/jobs.jsonl, from sacct.
A failed job shows its log (stderr) file and the last error line in it."""


def add_arguments(p):
    p.add_argument("--runs", default=None, help="run directories root (default $REPRO_RUNS or <project>/runs)")


def run(args) -> int:
    from repro.launch import joblog
    from repro.paths import runs_root

    root = runs_root(args.runs).resolve()
    states = joblog.job_states(root)
    if not states:
        print(f"no jobs recorded in {joblog.joblog_path(root)}")
        return 0
    failed = 0
    for s in states:
        after = f" after {s['depends_on']}" if s.get("depends_on") else ""
        print(f"{s['job_id']:>14}  {s['kind']:5s}  {s['state']:<22}  key {s['training_key']}  "
              f"rows {', '.join(s['rows'])}{after}")
        if "error" in s:
            failed += 1
            print(f"{'':>16}log: {s['log']}")
            print(f"{'':>16}error: {s['error'] or '(no error line in the log)'}")
    return 1 if failed else 0
