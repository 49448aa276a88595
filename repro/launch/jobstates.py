"""What `repro status` and `repro cancel` read from SLURM about the jobs of the job log
(joblog.py): whether SLURM answers at all, each job's state (sacct through submitit's watcher,
squeue for jobs sacct does not know yet), requeues, training step and last error line; and
scancel.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from repro.io import ReproError
from repro.launch.joblog import entries_of, find_by_name, load_journal, open_intents, released_tokens

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
    intents = open_intents(journal)
    if not entries and not intents:
        return []
    check_slurm()
    for intent in intents:   # read-only: `repro submit` records them
        ids = find_by_name(intent["name"], intent.get("time", ""))
        if ids:
            entries += [dict(e, recovered=True) for e in entries_of(intent, ids[0])]
    if not entries:
        return []
    released = released_tokens(journal)
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
