"""The job log of `repro submit`, and what `repro status` / `repro cancel` read from SLURM.

Every submitted job is one JSON line in `RUN_ROOT/slurm/jobs.jsonl` (O_APPEND, one write per
line, fsync): job id, kind, training key, rows, submitit folder, dependency. Job states come from
sacct through submitit's watcher.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from repro.io import ReproError

JOBLOG_NAME = "jobs.jsonl"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
            "DEADLINE", "PREEMPTED")


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


def _append_line(path: Path, line: str) -> None:
    # O_APPEND + one write(): concurrent submitters never interleave within a line; fsync so a
    # crash right after sbatch does not lose the only record of the job id.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def record_job(run_root, planned, handle, profile=None) -> dict:
    entry = dict(job_id=str(handle.job_id), kind=planned.kind, training_key=planned.training_key,
                 rows=list(planned.rows), folder=str((slurm_folder(run_root) / "%j").resolve()),
                 tasks=int(handle.num_tasks), depends_on=planned.depends_on,
                 profile=profile.name if profile else None, submitted=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _append_line(joblog_path(run_root), json.dumps(entry) + "\n")
    return entry


def load_jobs(run_root) -> list[dict]:
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


def job_states(run_root) -> list[dict]:
    """Job log entries with 'state' (one sacct call via submitit's watcher), and for failures
    'log' (stderr path) and 'error' (its last error line)."""
    entries = load_jobs(run_root)
    if not entries:
        return []
    check_slurm()
    handles = [_job_handle(e) for e in entries]
    watcher = handles[0].watcher
    watcher.update()  # one forced sacct for every logged job
    out = []
    for e, h in zip(entries, handles):
        state = watcher.get_state(e["job_id"], mode="cache")
        info = dict(e, state=state, log=str(h.paths.stderr))
        if state.split()[0] in ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL"):
            info["error"] = last_error_line(h.paths.stderr)
        out.append(info)
    return out


def cancel_jobs(run_root, job_ids=None) -> list[str]:
    """scancel the given job ids (default: every logged job not yet finished). SLURM is
    asked only when there is something to cancel: an empty job log returns [] without it."""
    if job_ids:
        check_slurm()
        ids = [str(j) for j in job_ids]
    else:  # job_states checks SLURM itself once the job log has an entry
        ids = [s["job_id"] for s in job_states(run_root) if s["state"].split()[0] not in FINISHED]
    if ids:
        p = subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise ReproError(f"scancel {' '.join(ids)} failed: {(p.stderr or p.stdout).strip()[:300]}")
    return ids
