"""Planning and submission of rows to SLURM: one training job per training key, then its
evaluations (the jobs themselves: repro/launch/slurm.py; their executors: executors.py)."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import submitit

from repro.io import ReproError
from repro.launch import joblog, jobstates
from repro.launch.joblog import record_job, slurm_folder
from repro.launch.jobstates import check_slurm
from repro.launch.profiles import Profile
from repro.rows.group import group_by_training_key
from repro.launch.executors import make_executor, sbatch_text
from repro.launch.slurm import EvalJob, TrainJob


@dataclass
class PlannedJob:
    kind: str                        # 'train' | 'eval'
    training_key: str
    rows: list                       # row ids this job serves
    args: tuple                      # the job's call arguments
    job_id: Optional[str] = None
    depends_on: Optional[str] = None  # the training's job id (eval jobs)
    extra: dict = field(default_factory=dict)   # row_objs (Row objects), target_steps, num


def plan_jobs(rows, run_root, overrides=(), smoke=False, max_steps=None, num=None) -> list[PlannedJob]:
    """Rows (repro.specs.Row) → train jobs (one per training key) followed by their eval jobs."""
    from repro.launch.preflight import target_steps

    trains, evals = [], []
    for key, members in group_by_training_key(rows).items():
        ids = [r.id for r in members]
        extra = {"row_objs": list(members), "target_steps": target_steps(members[0], max_steps), "num": num}
        trains.append(PlannedJob("train", key, ids, (ids[0], tuple(overrides), str(run_root), max_steps, smoke),
                                 extra=dict(extra)))
        evals.append(PlannedJob("eval", key, ids, (ids, tuple(overrides), str(run_root), smoke, num),
                                extra=dict(extra)))
    return trains + evals


def settle_plan(plan: list[PlannedJob], run_root, states, force: bool = False, log=print,
                tables=None) -> list[PlannedJob]:
    """The part of `plan` still to submit, given the job log's `states` and the run dirs; one
    line per key or row left out, saying why (module docstring)."""
    from repro.launch.preflight import current_record, final_checkpoint

    live_train, live_eval = {}, {}
    for s in states:
        if jobstates.is_live(s["state"]):
            if s["kind"] == "train":
                live_train[s["training_key"]] = s
            elif s["kind"] == "eval":   # a re-run job (`repro verify --rerun`) writes elsewhere
                live_eval.update({(s["training_key"], r): s for r in s["rows"]})
    out, trained, running = [], {}, {}
    for p in (p for p in plan if p.kind == "train"):
        key, target = p.training_key, p.extra.get("target_steps")
        if key in live_train:
            s = live_train[key]
            running[key] = s["job_id"]
            log(f"key {key}: training job {s['job_id']} is {s['state']}; not submitted again")
            continue
        ck = final_checkpoint(Path(run_root) / key, target) if target else None
        if ck is not None:
            trained[key] = ck
            if not force:
                log(f"key {key}: trained ({ck}); no training job (--force submits one anyway)")
                continue
        out.append(p)
    training_now = {p.training_key for p in out}
    commit = None
    for p in (p for p in plan if p.kind == "eval"):
        key = p.training_key
        by_id = {r.id: r for r in p.extra.get("row_objs") or []}
        keep = []
        for rid in p.rows:
            if (key, rid) in live_eval:
                s = live_eval[(key, rid)]
                log(f"row {rid}: evaluation job {s['job_id']} is {s['state']}; not submitted again")
                continue
            if key in trained and key not in training_now and rid in by_id and not force:
                if commit is None:
                    from repro.results.provenance import git_state

                    commit = git_state()["commit"] or ""
                rec = current_record(by_id[rid], Path(run_root) / key, p.extra.get("target_steps"), commit,
                                     p.extra.get("num"), tables)
                if rec is not None:
                    log(f"row {rid}: its record {rec} is current (commit {commit[:12]}, same protocol); "
                        f"not evaluated again (--force evaluates it anyway)")
                    continue
            keep.append(rid)
        if keep:
            out.append(PlannedJob("eval", key, keep, (keep, *p.args[1:]), depends_on=running.get(key),
                                  extra=dict(p.extra, row_objs=[by_id[r] for r in keep if r in by_id])))
    return out


def _known_states(run_root, log) -> list:
    """Job states for a dry run: none needed when nothing was submitted; said so when SLURM is away."""
    try:
        return jobstates.job_states(run_root)
    except ReproError as e:
        log(f"(job states unknown, so live jobs are not taken into account: {e})")
        return []


def submit_rows(rows, profile: Profile, run_root, overrides=(), smoke=False, max_steps=None, num=None,
                dry_run: bool = False, force: bool = False, evaluate: bool = True, log=print) -> list[PlannedJob]:
    """`repro submit`: plan, leave out what is done or under way, check inputs, submit."""
    plan = plan_jobs(rows, run_root, overrides=overrides, smoke=smoke, max_steps=max_steps, num=num)
    if not evaluate:
        plan = [p for p in plan if p.kind == "train"]
    if dry_run:
        plan = settle_plan(plan, run_root, _known_states(run_root, log), force, log)
        return submit_planned(plan, profile, run_root, dry_run=True, evaluate=evaluate, log=log)
    check_slurm()
    with joblog.submit_lock(run_root):
        joblog.resume(run_root, log)
        plan = settle_plan(plan, run_root, jobstates.job_states(run_root), force, log)
        if not plan:
            log("nothing to submit")
            return []
        return submit_planned(plan, profile, run_root, evaluate=evaluate, log=log)


def submit_planned(plan: list[PlannedJob], profile: Profile, run_root, dry_run: bool = False,
                   train_fn: Optional[Callable] = None, eval_fn: Optional[Callable] = None,
                   hooks: str = "repro.train", evaluate: bool = True, log=print) -> list[PlannedJob]:
    """Submit the plan (trainings as one array, then each evaluation after its training), held
    until all of it is queued; inputs are checked first (jobs carrying their rows).

    dry_run prints what would be submitted (keys, rows, resources, GPU-hours, sbatch files) and
    submits nothing.
    """
    from repro.launch.preflight import describe, missing_inputs

    folder = slurm_folder(run_root)
    trains = [p for p in plan if p.kind == "train"]
    evals = [p for p in plan if p.kind == "eval"] if evaluate else []
    missing = missing_inputs(trains + evals)
    if dry_run:
        _print_plan(trains, evals, profile, folder, log, missing)
        return plan
    if missing:
        raise ReproError(describe(missing))
    check_slurm()
    with joblog.submit_lock(run_root):
        joblog.resume(run_root, log)
        if trains:
            job = TrainJob(train_fn, hooks=hooks, checkpoint_wait_s=profile.checkpoint_wait_s)
            ex = make_executor(profile, folder, "train", name="repro-train", hold=True)
            _submit_held(ex, [submitit.helpers.DelayedSubmission(job, *p.args) for p in trains], trains,
                         "train", run_root, profile)
        by_key = {p.training_key: p for p in trains}
        for p in evals:
            if p.depends_on is None and p.training_key in by_key:
                p.depends_on = by_key[p.training_key].job_id
            eex = make_executor(profile, folder, "eval", name="repro-eval", hold=True,
                                dependency=f"afterok:{p.depends_on}" if p.depends_on else None)
            _submit_held(eex, [submitit.helpers.DelayedSubmission(EvalJob(eval_fn), *p.args)], [p], "eval",
                         run_root, profile)
        joblog.release_held(run_root, log)
    for p in trains + evals:
        after = f" after {p.depends_on}" if p.depends_on else ""
        log(f"{p.kind:5s} job {p.job_id}{after}: key {p.training_key} rows {', '.join(p.rows)}")
    return plan


def submit_job(fn, args: tuple, planned: PlannedJob, profile: Profile, run_root, kind: str = "eval",
               log=print, **overrides) -> str:
    """One job outside a plan (`repro verify --rerun --profile`), queued as `submit_planned` queues:
    `kind`'s resources (executor_parameters; `overrides` on top), journalled, held, then released.
    Returns its job id (also set on `planned`)."""
    check_slurm()
    with joblog.submit_lock(run_root):
        joblog.resume(run_root, log)
        ex = make_executor(profile, slurm_folder(run_root), kind, name=f"repro-{planned.kind}", hold=True,
                           **overrides)
        _submit_held(ex, [submitit.helpers.DelayedSubmission(fn, *args)], [planned], planned.kind, run_root,
                     profile)
        joblog.release_held(run_root, log)
    return planned.job_id


def _submit_held(ex, delayeds, planned, kind: str, run_root, profile) -> list[str]:
    """One sbatch --hold (an array when several): intent line, pickles, sbatch, job lines."""
    from repro.io import atomic_write_text

    token = joblog.new_token()
    name = f"repro-{kind}-{token}"
    ex.update_parameters(name=name)
    inner = ex._executor
    folder = str(Path(inner.folder).resolve())
    n, tasks = len(delayeds), inner._num_tasks()
    joblog.record_intent(run_root, token, name, kind, folder,
                         [dict(training_key=p.training_key, rows=list(p.rows), depends_on=p.depends_on,
                               target_steps=p.extra.get("target_steps"), tasks=tasks) for p in planned],
                         profile, array=n > 1)
    for i, d in enumerate(delayeds):
        d.set_timeout(inner.parameters.get("time", 5), inner.max_num_timeout)
        path = joblog.pending_pickle(run_root, token, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        d.dump(path)
    script = joblog.script_path(run_root, token)
    atomic_write_text(script, sbatch_text(ex, array_size=n))
    try:
        p = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        # It may have been queued: the intent stays open, and the next `repro submit` finds it by name.
        raise ReproError(f"sbatch gave no answer in 300 s ({script}); run the same `repro submit` again: "
                         f"it records the job if SLURM queued it, and submits it otherwise") from None
    except OSError as e:
        p = subprocess.CompletedProcess([], 127, "", str(e))
    m = re.match(r"^(\d+)", p.stdout.strip())
    if p.returncode != 0 or m is None:
        joblog.record_event(run_root, "abandoned", token=token)
        for i in range(n):
            joblog.pending_pickle(run_root, token, i).unlink(missing_ok=True)
        msg = " ".join((p.stderr or p.stdout or f"exit status {p.returncode}").split())[:300]
        raise ReproError(f"sbatch failed: {msg}")
    ids = [f"{m.group(1)}_{i}" for i in range(n)] if n > 1 else [m.group(1)]
    for i, (pj, jid) in enumerate(zip(planned, ids)):
        joblog.place_pickle(run_root, token, i, folder, jid)
        pj.job_id = jid
        record_job(run_root, pj, job_id=jid, tasks=tasks, profile=profile, token=token, folder=folder)
    return ids


def _train_gpu_hours(p: PlannedJob) -> Optional[float]:
    from repro.rows.summary import gpu_hours

    rows = p.extra.get("row_objs")
    if not rows:
        return None
    row = rows[0]
    target = p.extra.get("target_steps") or row.total_steps
    return gpu_hours(row) * target / max(row.total_steps, 1)


def _print_plan(trains, evals, profile, folder, log, missing=()) -> None:
    from repro.launch.preflight import describe
    from repro.rows.summary import ASSUMPTION

    log(f"profile {profile.name} ({profile.path}); submitit folder {folder}")
    train_h = 0.0
    if trains:
        log(f"{len(trains)} training job(s) as {'one array' if len(trains) > 1 else 'one job'}: "
            f"{profile.nodes} node(s) x {profile.tasks_per_node} task(s), {profile.gpus_per_node} GPU(s)/node, "
            f"{profile.cpus_per_task} CPU(s)/task, {profile.mem_gb or 'default'} GB/node, {profile.time_min} min "
            f"per run (requeued at the limit until done)")
    for i, p in enumerate(trains):
        h = _train_gpu_hours(p)
        train_h += h or 0.0
        est = f"; est. {h:.1f} GPU-hours" if h is not None else ""
        log(f"  train[{i}] key {p.training_key}: trains {p.rows[0]} for rows {', '.join(p.rows)}{est}")
    eval_h = profile.eval_gpus * profile.eval_time_min / 60
    if evals:
        log(f"{len(evals)} evaluation job(s), each 1 node x 1 task: {profile.eval_gpus} GPU(s), "
            f"{profile.eval_cpus_per_task} CPU(s), {profile.eval_mem_gb or 'default'} GB, "
            f"{profile.eval_time_min} min")
    training_now = {p.training_key for p in trains}
    for p in evals:
        dep = p.depends_on or (f"<train job of {p.training_key}>" if p.training_key in training_now else None)
        log(f"  eval  key {p.training_key}: rows {', '.join(p.rows)}; "
            f"{'dependency afterok:' + dep if dep else 'no dependency (trained already)'}; "
            f"at most {eval_h:.1f} GPU-hours")
    log(f"GPU-hours: training est. {train_h:.1f}, evaluation at most {eval_h * len(evals):.1f} (GPUs x time "
        f"limit), total {train_h + eval_h * len(evals):.1f}\n  (training estimate as `repro list`: {ASSUMPTION})")
    if not trains and not evals:
        log("nothing to submit")
    if missing:
        log(f"NOT SUBMITTABLE: {describe(missing)}")
    if trains:
        ex = make_executor(profile, folder, "train", name="repro-train-<token>", hold=True, dry_run=True)
        log("--- sbatch file of the training array ---" if len(trains) > 1 else "--- sbatch file of the training job ---")
        log(sbatch_text(ex, array_size=len(trains)).rstrip())
    if evals:
        eex = make_executor(profile, folder, "eval", name="repro-eval-<token>", hold=True,
                            dependency="afterok:<train job>", dry_run=True)
        log("--- sbatch file of an evaluation job ---")
        log(sbatch_text(eex).rstrip())
