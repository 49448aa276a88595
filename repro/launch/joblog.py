"""The job log of `repro submit` (a journal), and what `repro status` / `repro cancel` read from SLURM.

`RUN_ROOT/slurm/jobs.jsonl` holds one JSON line per event (O_APPEND, one write per line, fsync):

- `{"event": "intent", "token", "name", "kind", "jobs": [...], ...}`: written BEFORE sbatch; the
  job (or job array) is submitted held, under the name `name`, which carries the token;
- a line without "event" per submitted job (job id, kind, training key, rows, submitit folder,
  dependency, token): written once sbatch answered and the job's pickle is in place;
- `{"event": "released", "tokens": [...]}`: the held jobs of those submissions were released;
- `{"event": "abandoned", "token"}`: no job with the intent's name reached SLURM.

So a `repro submit` killed at any point leaves a journal from which the next one (`resume`)
finds every job that reached SLURM (by name), records it, puts its pickle in place, releases
it, and plans only what is missing; until then the jobs wait held, and `repro status` /
`repro cancel` already list them. A file lock (`submit_lock`) keeps two submitters of one run
root apart. Job states come from sacct through submitit's watcher.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from repro.io import ReproError

JOBLOG_NAME = "jobs.jsonl"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
            "DEADLINE", "PREEMPTED", "REVOKED")
FAILED = ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")
# States `repro status --state` accepts (SLURM's job states, as sacct prints them).
STATES = ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "COMPLETING", "COMPLETED", "FAILED", "CANCELLED",
          "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED",
          "RESIZING", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "STOPPED", "UNKNOWN")


def check_slurm(timeout_s: float = 20.0) -> None:
    """One-line ReproError unless `sbatch` is on PATH and the controller answers `scontrol ping`."""
    conf = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        raise ReproError("SLURM not reachable: no `sbatch`/`scontrol` on PATH; run on a cluster login node, "
                         "or start the local test cluster (slurm/cluster.sh up; source its env.sh)")
    try:
        p = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ReproError(f"SLURM not reachable: `scontrol ping` gave no answer in {timeout_s:.0f} s "
                         f"(SLURM_CONF={conf})") from None
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or "UP" not in out:
        first = out.splitlines()[0] if out else f"exit status {p.returncode}"
        raise ReproError(f"SLURM not reachable: controller down (`scontrol ping`: {first}; SLURM_CONF={conf})")


def slurm_folder(run_root) -> Path:
    return Path(run_root) / "slurm"


def joblog_path(run_root) -> Path:
    return slurm_folder(run_root) / JOBLOG_NAME


def pending_pickle(run_root, token: str, index: int) -> Path:
    """Where a job's pickle waits between the intent and sbatch (moved to the job's folder after)."""
    return slurm_folder(run_root) / "pending" / f"{token}-{index}.pkl"


def script_path(run_root, token: str) -> Path:
    return slurm_folder(run_root) / "scripts" / f"{token}.sh"


def job_pickle(folder: str, job_id: str) -> Path:
    """submitit's place for a job's pickle: `<folder with %j = job id>/<job id>_submitted.pkl`."""
    from submitit.core.utils import JobPaths

    return JobPaths(folder, job_id=job_id).submitted_pickle


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _append_line(path: Path, line: str) -> None:
    # O_APPEND + one write(): concurrent writers never interleave within a line; fsync so a
    # crash right after sbatch does not lose the only record of the job id.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(run_root, entry: dict) -> dict:
    _append_line(joblog_path(run_root), json.dumps(entry) + "\n")
    return entry


# ---------------------------------------------------------------------------------------------
# Writing


_locked: set = set()


@contextlib.contextmanager
def submit_lock(run_root):
    """Exclusive right to submit into `run_root` (flock on RUN_ROOT/slurm/submit.lock; re-entrant
    within a process). A second `repro submit` refuses at once instead of racing this one."""
    import fcntl

    path = slurm_folder(run_root) / "submit.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if key in _locked:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ReproError(f"{path}: another `repro submit` (pid {holder}) is submitting into {run_root}; "
                             f"wait for it to end, then run yours again (it skips what the other queued)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _locked.add(key)
        try:
            yield
        finally:
            _locked.discard(key)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def new_token() -> str:
    return uuid.uuid4().hex[:12]


def record_intent(run_root, token: str, name: str, kind: str, folder: str, jobs: list, profile=None,
                  array: bool = False) -> dict:
    """Before sbatch: what is about to be submitted (`jobs`: one dict per job or array task)."""
    return _append(run_root, dict(event="intent", token=token, name=name, kind=kind, folder=folder, jobs=jobs,
                                  array=bool(array), profile=profile.name if profile else None, time=_now()))


def record_event(run_root, event: str, **fields) -> dict:
    return _append(run_root, dict(event=event, **fields, time=_now()))


def record_job(run_root, planned, handle=None, profile=None, *, job_id=None, tasks=None, token=None,
               folder=None) -> dict:
    """A submitted job: from a submitit handle, or job_id/tasks (jobs `repro submit` queued itself)."""
    entry = dict(job_id=str(job_id if job_id is not None else handle.job_id), kind=planned.kind,
                 training_key=planned.training_key, rows=list(planned.rows),
                 folder=folder or str((slurm_folder(run_root) / "%j").resolve()),
                 tasks=int(tasks if tasks is not None else handle.num_tasks), depends_on=planned.depends_on,
                 profile=profile.name if profile else None, submitted=_now())
    target = getattr(planned, "extra", {}).get("target_steps")
    if target is not None:
        entry["target_steps"] = int(target)
    if token:
        entry["token"] = token
    return _append(run_root, entry)


# ---------------------------------------------------------------------------------------------
# Reading


def load_journal(run_root) -> list[dict]:
    path = joblog_path(run_root)
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise ReproError(f"{path}:{n}: not a JSON line; remove the torn line") from None
    return out


def load_jobs(run_root) -> list[dict]:
    """Submitted jobs, in order (the journal's lines without an event)."""
    return [e for e in load_journal(run_root) if "event" not in e]


def _open_intents(journal) -> list[dict]:
    """Intents that neither led to a recorded job nor were found to have reached nothing."""
    done = {e.get("token") for e in journal if "event" not in e}
    done |= {e.get("token") for e in journal if e.get("event") == "abandoned"}
    return [e for e in journal if e.get("event") == "intent" and e["token"] not in done]


def _released(journal) -> set:
    out = set()
    for e in journal:
        if e.get("event") == "released":
            out.update(e.get("tokens", ()))
    return out


def find_by_name(name: str, since: str = "") -> list[str]:
    """Base job ids of jobs named `name`: live ones from squeue, else finished ones from sacct."""
    p = subprocess.run(["squeue", "-h", "--name", name, "-o", "%F"], capture_output=True, text=True, timeout=60)
    ids = sorted({ln.strip() for ln in p.stdout.splitlines() if ln.strip().isdigit()})
    if ids:
        return ids
    start = since or _now()
    with contextlib.suppress(ValueError):   # a day early: sacct's window is about start times
        start = (_dt.datetime.fromisoformat(start) - _dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    p = subprocess.run(["sacct", "-X", "-n", "-P", "--name", name, "-S", start, "-o", "JobID"],
                       capture_output=True, text=True, timeout=60)
    return sorted({m.group(1) for ln in p.stdout.splitlines() if (m := re.match(r"\s*(\d+)", ln))})


def _intent_ids(intent: dict, base: str) -> list[str]:
    n = len(intent["jobs"])
    return [f"{base}_{i}" for i in range(n)] if intent.get("array", n > 1) else [base]


def _entries_of(intent: dict, base: str) -> list[dict]:
    return [dict(job_id=jid, kind=intent["kind"], training_key=j["training_key"], rows=list(j["rows"]),
                 folder=intent["folder"], tasks=int(j.get("tasks", 1)), depends_on=j.get("depends_on"),
                 profile=intent.get("profile"), submitted=intent.get("time"), token=intent["token"],
                 **({"target_steps": j["target_steps"]} if j.get("target_steps") is not None else {}))
            for jid, j in zip(_intent_ids(intent, base), intent["jobs"])]


def place_pickle(run_root, token: str, index: int, folder: str, job_id: str) -> bool:
    """Move the pending pickle into the job's folder; True when the job has its pickle."""
    target = job_pickle(folder, job_id)
    src = pending_pickle(run_root, token, index)
    if not target.exists() and src.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, target)
    else:
        src.unlink(missing_ok=True)
    return target.exists()


def _drop_pending(run_root, token: str) -> None:
    for p in (slurm_folder(run_root) / "pending").glob(f"{token}-*.pkl"):
        p.unlink(missing_ok=True)


def resume(run_root, log=print) -> list[dict]:
    """Complete what an interrupted `repro submit` left (caller holds `submit_lock`): jobs that
    reached SLURM are recorded (their pickles put in place), submissions that reached nothing
    are marked abandoned, and held jobs are released. Returns the entries recorded now."""
    journal = load_journal(run_root)
    recovered = []
    for intent in _open_intents(journal):
        ids = find_by_name(intent["name"], intent.get("time", ""))
        if not ids:
            record_event(run_root, "abandoned", token=intent["token"])
            _drop_pending(run_root, intent["token"])
            log(f"an interrupted `repro submit` queued nothing for {intent['kind']} job(s) of "
                f"{', '.join(sorted({j['training_key'] for j in intent['jobs']}))}; planned again")
            continue
        for i, entry in enumerate(_entries_of(intent, ids[0])):
            if not place_pickle(run_root, intent["token"], i, intent["folder"], entry["job_id"]):
                # Its pickle is gone: the job could only fail. Cancel it; the plan submits it anew.
                subprocess.run(["scancel", entry["job_id"]], capture_output=True, timeout=60)
                entry["note"] = "cancelled by repro submit: its job file was lost"
            recovered.append(_append(run_root, entry))
            log(f"recorded {entry['kind']} job {entry['job_id']} (key {entry['training_key']}) of an "
                f"interrupted `repro submit`" + (f"; {entry['note']}" if "note" in entry else ""))
    release_held(run_root, log)
    return recovered


def release_held(run_root, log=print) -> list[str]:
    """`scontrol release` every recorded job whose submission was not released yet."""
    journal = load_journal(run_root)
    done = _released(journal)
    held = [e for e in journal if "event" not in e and e.get("token") and e["token"] not in done]
    if not held:
        return []
    bases = sorted({e["job_id"].split("_")[0] for e in held})
    p = subprocess.run(["scontrol", "release", ",".join(bases)], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        # One finished (or cancelled) job fails the whole call: release them one by one.
        for b in bases:
            q = subprocess.run(["scontrol", "release", b], capture_output=True, text=True, timeout=60)
            if q.returncode != 0 and "finished" not in (q.stderr + q.stdout).lower():
                log(f"scontrol release {b}: {(q.stderr or q.stdout).strip()[:200]}")
    record_event(run_root, "released", tokens=sorted({e["token"] for e in held}))
    return bases


# ---------------------------------------------------------------------------------------------
# States


def _job_handle(entry: dict):
    from submitit.slurm.slurm import SlurmJob

    return SlurmJob(folder=entry["folder"], job_id=entry["job_id"], tasks=range(int(entry.get("tasks", 1))))


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")


def last_error_line(path) -> str:
    """The last exception line of a job's stderr (else its last non-empty line)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if _ERROR_LINE.match(ln):
            return ln
    return lines[-1] if lines else ""


def last_step(run_dir) -> int | None:
    """The last training step metrics.jsonl reports (its tail only: the file can be long)."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            tail = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            rec = json.loads(line)
            if isinstance(rec.get("step"), int):
                return rec["step"]
    return None


def _requeues(job_ids) -> dict:
    """{job id: times it was requeued}: sacct -D lists one line per run of a job."""
    bases = sorted({j.split("_")[0] for j in job_ids})
    if not bases:
        return {}
    p = subprocess.run(["sacct", "-D", "-X", "-n", "-P", "-j", ",".join(bases), "-o", "JobID"],
                       capture_output=True, text=True, timeout=60)
    runs: dict = {}
    for ln in p.stdout.splitlines():
        runs[ln.strip()] = runs.get(ln.strip(), 0) + 1
    return {j: max(runs.get(j, 1) - 1, 0) for j in job_ids}


def _queue_states(job_ids) -> dict:
    """States from the controller (squeue) of jobs sacct does not know yet (just submitted)."""
    if not job_ids:
        return {}
    bases = sorted({j.split("_")[0] for j in job_ids})
    p = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(bases), "-o", "%i|%T"],
                       capture_output=True, text=True, timeout=60)
    found = dict(ln.strip().split("|", 1) for ln in p.stdout.splitlines() if "|" in ln)
    return {j: found[j] for j in job_ids if j in found}


def job_states(run_root, requeues: bool = False) -> list[dict]:
    """Every known job with 'state' (one sacct call via submitit's watcher), 'log'/'out' (its
    stderr/stdout), 'held' (submitted by a `repro submit` that has not released it yet),
    'recovered' (not yet recorded: found by name from an interrupted submission), for training
    jobs 'step' (metrics.jsonl), with `requeues` the number of requeues, and for failures
    'error' (the last error line of its stderr)."""
    journal = load_journal(run_root)
    entries = [e for e in journal if "event" not in e]
    intents = _open_intents(journal)
    if not entries and not intents:
        return []
    check_slurm()
    for intent in intents:   # read-only: `repro submit` records them
        ids = find_by_name(intent["name"], intent.get("time", ""))
        if ids:
            entries += [dict(e, recovered=True) for e in _entries_of(intent, ids[0])]
    if not entries:
        return []
    released = _released(journal)
    handles = [_job_handle(e) for e in entries]
    watcher = handles[0].watcher
    watcher.update()  # one forced sacct for every logged job
    counts = _requeues([e["job_id"] for e in entries]) if requeues else {}
    states = {e["job_id"]: watcher.get_state(e["job_id"], mode="cache") for e in entries}
    states.update(_queue_states([j for j, st in states.items() if st == "UNKNOWN"]))
    for e in entries:   # cancelled by `resume` a moment ago: sacct may not say so yet
        if states[e["job_id"]] == "UNKNOWN" and str(e.get("note", "")).startswith("cancelled by repro"):
            states[e["job_id"]] = "CANCELLED"
    out = []
    for e, h in zip(entries, handles):
        state = states[e["job_id"]]
        info = dict(e, state=state, log=str(h.paths.stderr), out=str(h.paths.stdout),
                    held=bool(e.get("token")) and e["token"] not in released)
        if e["job_id"] in counts:
            info["requeues"] = counts[e["job_id"]]
        if e["kind"] == "train":
            info["step"] = last_step(Path(run_root) / e["training_key"])
        if state.split()[0] in FAILED:
            info["error"] = last_error_line(h.paths.stderr)
        out.append(info)
    return out


def is_live(state: str) -> bool:
    """Queued, running, or about to run again (UNKNOWN: sacct does not know it yet)."""
    return state.split()[0] not in FINISHED


def cancel_jobs(run_root, job_ids=None) -> list[str]:
    """scancel the given job ids (default: every known job not yet finished). SLURM is
    asked only when there is something to cancel: an empty job log returns [] without it."""
    if job_ids:
        check_slurm()
        ids = [str(j) for j in job_ids]
    else:  # job_states checks SLURM itself once the job log has an entry
        ids = [s["job_id"] for s in job_states(run_root) if is_live(s["state"])]
    if ids:
        p = subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise ReproError(f"scancel {' '.join(ids)} failed: {(p.stderr or p.stdout).strip()[:300]}")
    return ids
