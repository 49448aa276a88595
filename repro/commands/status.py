HELP = "state of submitted jobs"
DESCRIPTION = """State of the jobs `repro submit` recorded in RUNS/slurm/jobs.jsonl, from sacct: for
trainings the step reached (metrics.jsonl) out of the steps asked, requeues, the log files of
jobs that ran, and for a failed job the last error line of its log. Jobs of an interrupted
`repro submit` (held until it is run again) are listed too. Exit status 1 when a listed job failed."""

from repro.io import ReproError


def add_arguments(p):
    p.add_argument("--runs", default=None, help="run directories root (default $REPRO_RUNS or <project>/runs)")
    p.add_argument("--state", default=None, metavar="STATE[,STATE]",
                   help="only jobs in these states, e.g. RUNNING or FAILED,TIMEOUT; 'live' = not finished")


def _states_filter(text):
    from repro.launch import jobstates

    if not text:
        return None
    wanted = {w.strip().upper() for w in text.split(",") if w.strip()}
    bad = sorted(wanted - set(jobstates.STATES) - {"LIVE"})
    if bad:
        raise ReproError(f"--state {text}: unknown state {', '.join(bad)}; choose from LIVE, "
                         f"{', '.join(jobstates.STATES)}")
    return wanted


def run(args) -> int:
    from repro.launch import joblog, jobstates
    from repro.paths import runs_root

    wanted = _states_filter(args.state)
    root = runs_root(args.runs).resolve()
    states = jobstates.job_states(root, requeues=True)
    if not states:
        print(f"no jobs recorded in {joblog.joblog_path(root)}")
        return 0
    if wanted:
        states = [s for s in states if s["state"].split()[0] in wanted
                  or ("LIVE" in wanted and jobstates.is_live(s["state"]))]
        if not states:
            print(f"no job in state {args.state.upper()}")
            return 0
    failed = 0
    for s in states:
        first = s["state"].split()[0]
        after = f" after {s['depends_on']}" if s.get("depends_on") else ""
        notes = []
        if s["kind"] == "train" and s.get("step") is not None:
            notes.append(f"step {s['step']}/{s.get('target_steps', '?')}")
        if s.get("requeues"):
            notes.append(f"requeued {s['requeues']}x")
        if s.get("held") and first == "PENDING":
            notes.append("held: run the same `repro submit` again to release it")
        if s.get("recovered"):
            notes.append("from an interrupted `repro submit`, not yet recorded")
        print(f"{s['job_id']:>14}  {s['kind']:5s}  {s['state']:<22}  key {s['training_key']}  "
              f"rows {', '.join(s['rows'])}{after}" + (f"  [{'; '.join(notes)}]" if notes else ""))
        if first not in ("PENDING", "UNKNOWN") or "error" in s:
            print(f"{'':>16}log: {s['log']}  (stdout: {s['out']})")
        if "error" in s:
            failed += 1
            print(f"{'':>16}error: {s['error'] or '(no error line in the log)'}")
    return 1 if failed else 0
