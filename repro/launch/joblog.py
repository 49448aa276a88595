"""The job log of `repro submit` (a journal): writing it, reading it, and completing what an
interrupted submission left.

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
`repro cancel` already list them (their states: jobstates.py). A file lock (`submit_lock`)
keeps two submitters of one run root apart.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

from repro.io import ReproError

JOBLOG_NAME = "jobs.jsonl"

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


def open_intents(journal) -> list[dict]:
    """Intents that neither led to a recorded job nor were found to have reached nothing."""
    done = {e.get("token") for e in journal if "event" not in e}
    done |= {e.get("token") for e in journal if e.get("event") == "abandoned"}
    return [e for e in journal if e.get("event") == "intent" and e["token"] not in done]


def released_tokens(journal) -> set:
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


def entries_of(intent: dict, base: str) -> list[dict]:
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
    for intent in open_intents(journal):
        ids = find_by_name(intent["name"], intent.get("time", ""))
        if not ids:
            record_event(run_root, "abandoned", token=intent["token"])
            _drop_pending(run_root, intent["token"])
            log(f"an interrupted `repro submit` queued nothing for {intent['kind']} job(s) of "
                f"{', '.join(sorted({j['training_key'] for j in intent['jobs']}))}; planned again")
            continue
        for i, entry in enumerate(entries_of(intent, ids[0])):
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
    done = released_tokens(journal)
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
