"""`repro submit` without a cluster: what a submission leaves out (live jobs, trained keys,
current records), the inputs checked before anything is queued, the submit lock, the journal of
an interrupted submission (SLURM's clients replaced by scripts), `repro status`, and the dry
run's GPU-hours. Signals reaching a job: test_launch_job_signals.py. The same paths on a real
one-node SLURM: tests/slurm/."""
import fcntl
import json
import os

import pytest

from repro.cli import main as repro_main
from repro.io import ReproError
from repro.launch import joblog, jobstates, preflight, submission
from repro.launch.profiles import load_profile
from repro.rows import load_row


# ---------------------------------------------------------------------------------------------
# What a submission leaves out


def _demo_rows():
    return [load_row(r, smoke=True) for r in ("demo/digits/nfe1", "demo/digits/nfe2")]


def _finished_run(run_root, row):
    d = run_root / row.training_key / "ckpt"
    d.mkdir(parents=True)
    ck = d / f"step-{row.total_steps:07d}.pt"
    ck.write_bytes(b"weights")
    (d / (ck.name + ".sha256")).write_text("x  " + ck.name + "\n")
    return ck


def _current_record(run_root, row, ck, commit):
    from repro.results.evaluate import eval_dir_for
    from repro.results.records import make_record

    rec = make_record(row, {row.eval.metric: 1.0}, {"reference": {"name": row.eval.reference}}, ck,
                      {"wall_s": 1.0, "gpu_hours": 0.0, "steps": row.total_steps},
                      extra={"row_args": {"overrides": [], "smoke": True}})
    rec["git"]["commit"] = commit
    path = eval_dir_for(row, run_root / row.training_key) / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    return path


def test_live_jobs_are_not_submitted_twice(tmp_path):
    rows = _demo_rows()
    plan = submission.plan_jobs(rows, tmp_path, smoke=True)
    key = rows[0].training_key
    states = [dict(job_id="7_0", kind="train", training_key=key, rows=[r.id for r in rows], state="RUNNING"),
              dict(job_id="8", kind="eval", training_key=key, rows=[rows[0].id], state="PENDING")]
    lines = []
    left = submission.settle_plan(plan, tmp_path, states, log=lines.append)
    assert [(p.kind, p.rows, p.depends_on) for p in left] == [("eval", [rows[1].id], "7_0")]
    assert lines == [f"key {key}: training job 7_0 is RUNNING; not submitted again",
                     f"row {rows[0].id}: evaluation job 8 is PENDING; not submitted again"]
    # --force does not double a live job either
    assert [p.kind for p in submission.settle_plan(plan, tmp_path, states, force=True, log=lines.append)] == ["eval"]
    # finished jobs do not count
    done = [dict(s, state="FAILED") for s in states]
    assert [p.kind for p in submission.settle_plan(plan, tmp_path, done, log=lines.append)] == ["train", "eval"]


def test_trained_keys_and_current_records_are_left_out(tmp_path, monkeypatch):
    from repro.results import provenance

    rows = _demo_rows()
    commit = "c0ffee" * 6 + "c0ff"
    monkeypatch.setattr(provenance, "git_state", lambda path=None: {"commit": commit, "dirty": False})
    ck = _finished_run(tmp_path, rows[0])
    rec = _current_record(tmp_path, rows[0], ck, commit)
    plan = submission.plan_jobs(rows, tmp_path, smoke=True)
    lines = []
    left = submission.settle_plan(plan, tmp_path, [], log=lines.append)
    # trained: no training; nfe1 has a current record; nfe2 is evaluated, with nothing to wait for
    assert [(p.kind, p.rows, p.depends_on) for p in left] == [("eval", [rows[1].id], None)]
    assert lines[0].startswith(f"key {rows[0].training_key}: trained ({ck})")
    assert f"row {rows[0].id}: its record {rec} is current (commit {commit[:12]}" in lines[1]
    # another commit, or another protocol (--num), makes it stale
    monkeypatch.setattr(provenance, "git_state", lambda path=None: {"commit": "1" * 40, "dirty": False})
    assert [p.rows for p in submission.settle_plan(plan, tmp_path, [], log=lines.append)] == [[r.id for r in rows]]
    monkeypatch.setattr(provenance, "git_state", lambda path=None: {"commit": commit, "dirty": False})
    other = submission.plan_jobs(rows, tmp_path, smoke=True, num=7)
    assert [p.rows for p in submission.settle_plan(other, tmp_path, [], log=lines.append)] == [[r.id for r in rows]]
    # --force: the training (a no-op resume) and every evaluation after it
    forced = submission.settle_plan(plan, tmp_path, [], force=True, log=lines.append)
    assert [(p.kind, p.rows) for p in forced] == [("train", [r.id for r in rows]), ("eval", [r.id for r in rows])]
    # more steps asked than were trained: trains again
    longer = submission.plan_jobs(rows, tmp_path, smoke=True, max_steps=None)
    for p in longer:
        p.extra["target_steps"] = rows[0].total_steps + 1
    assert [p.kind for p in submission.settle_plan(longer, tmp_path, [], log=lines.append)] == ["train", "eval"]


def test_submit_lock_refuses_a_second_submitter(tmp_path):
    path = joblog.slurm_folder(tmp_path) / "submit.lock"
    with joblog.submit_lock(tmp_path):
        with joblog.submit_lock(tmp_path):   # re-entrant in one process
            pass
        fd = os.open(path, os.O_RDWR)        # another submitter: its own open file
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # held elsewhere now
    try:
        with pytest.raises(ReproError, match=f"another `repro submit` \\(pid {os.getpid()}\\)"):
            with joblog.submit_lock(tmp_path):
                pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Inputs checked before anything is queued


def test_inputs_tables_match_the_evaluators():
    from repro.eval.fid import INCEPTION_ASSET
    from repro.eval.refstats import PRECOMPUTED

    assert preflight.INCEPTION_ASSET == INCEPTION_ASSET
    assert preflight.PRECOMPUTED_ASSET == {k: v[0] for k, v in PRECOMPUTED.items()}


def test_missing_assets_and_data_are_refused_before_sbatch(tmp_path, monkeypatch, capsys, fake_slurm):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPRO_DATA", str(tmp_path / "data"))
    runs = tmp_path / "runs"
    assert repro_main(["submit", "ict/cifar10/*", "--runs", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing queued" in err, err
    for text in ("prepared dataset cifar10", "repro data prepare cifar10 --src PATH", "asset ref-cifar10-train",
                 "repro fetch --only ref-cifar10-train", "training of key", "evaluation of ict/cifar10/"):
        assert text in err, text
    assert joblog.load_journal(runs) == [] and "sbatch" not in fake_slurm.read_text()
    assert repro_main(["submit", "ict/cifar10/*", "--runs", str(runs), "--dry-run"]) == 0
    assert "NOT SUBMITTABLE: nothing queued" in capsys.readouterr().out


def test_latent_rows_need_the_vae_and_their_latent_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPRO_DATA", str(tmp_path / "data"))
    row = load_row("slct/t2c/cauchy")
    n = preflight.needs(row)
    train = {x.what for x in n["train"]}
    assert {"latent cache of celebahq256", "asset vae-weights"} <= train
    assert "asset inception-pytorch" in train, "the in-training FID needs its Inception too"
    assert {"asset vgg16", "prepared dataset celebahq256"} <= {x.what for x in n["eval"]}
    assert "asset vgg16" not in train, "precision/recall is not scored during training"
    smoke = preflight.needs(load_row("slct/t2d/gn", smoke=True))   # synthetic latents, no in-training metric
    assert smoke["train"] == [] and "asset vae-weights" in {x.what for x in smoke["eval"]}


# ---------------------------------------------------------------------------------------------
# The command


def test_dry_run_prints_gpu_hours_per_job_and_in_total(tmp_path, monkeypatch, capsys):
    from repro.rows import expand
    from repro.rows.group import group_by_training_key
    from repro.rows.summary import gpu_hours

    monkeypatch.setenv("PATH", str(tmp_path))
    assert repro_main(["submit", "slct/t2*", "--dry-run", "--profile", "example-a100",
                       "--runs", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    rows = [load_row(i, with_config=False) for i in expand(["slct/t2*"])]
    per_key = {k: gpu_hours(m[0]) for k, m in group_by_training_key(rows).items()}
    for key, h in per_key.items():
        assert f"key {key}: trains " in out and f"est. {h:.1f} GPU-hours" in out
    prof = load_profile("example-a100")
    eval_each = prof.eval_gpus * prof.eval_time_min / 60
    assert f"training est. {sum(per_key.values()):.1f}" in out
    assert f"evaluation at most {eval_each * len(per_key):.1f}" in out
    ev = out.split("--- sbatch file of an evaluation job ---")[1]
    assert f"--mem={int(prof.eval_mem_gb)}GB" in ev and f"--cpus-per-task={prof.eval_cpus_per_task}" in ev
    assert f"--time={prof.eval_time_min}" in ev and "--gpus-per-node=1" in ev


@pytest.mark.parametrize("flag", ["--device=cpu", "--no-progress"])
def test_submit_has_no_flags_that_do_nothing(flag, capsys):
    with pytest.raises(SystemExit) as e:
        repro_main(["submit", "demo/digits/nfe1", "--smoke", "--dry-run", flag])
    assert e.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The journal of an interrupted submission (SLURM's clients replaced by scripts)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """squeue/sacct/scontrol/scancel scripts: squeue finds job 500 by name; calls are logged."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls"
    for name, body in {"squeue": 'case "$*" in *repro-train-found*) echo 500;; esac',
                       "sacct": ":", "scontrol": 'case "$1" in ping) echo "Slurmctld(primary) at x is UP";; esac',
                       "scancel": ":", "sbatch": "exit 1"}.items():
        p = bin_ / name
        p.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}\n')
        p.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    return log


def _intent(root, token, name, folder, n=2):
    jobs = [dict(training_key=f"k{i}", rows=[f"r{i}"], depends_on=None, target_steps=2, tasks=1) for i in range(n)]
    joblog.record_intent(root, token, name, "train", folder, jobs, array=n > 1)
    for i in range(n):
        p = joblog.pending_pickle(root, token, i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"pickle")


def test_resume_records_what_reached_slurm_and_drops_the_rest(tmp_path, fake_slurm):
    root = tmp_path / "runs"
    folder = str(joblog.slurm_folder(root) / "%j")
    _intent(root, "found", "repro-train-found", folder)      # sbatch answered, then the kill
    _intent(root, "lost", "repro-train-lost", folder, n=1)   # killed before sbatch
    lines = []
    with joblog.submit_lock(root):
        recovered = joblog.resume(root, lines.append)
    assert [e["job_id"] for e in recovered] == ["500_0", "500_1"]
    assert [e["training_key"] for e in joblog.load_jobs(root)] == ["k0", "k1"]
    for jid in ("500_0", "500_1"):
        assert joblog.job_pickle(folder, jid).read_bytes() == b"pickle"
    assert not list((joblog.slurm_folder(root) / "pending").iterdir()), "no stray pickles"
    events = [e.get("event") for e in joblog.load_journal(root)]
    assert events.count("abandoned") == 1 and events[-1] == "released"
    assert "scontrol release 500" in fake_slurm.read_text()
    assert any("queued nothing" in ln for ln in lines) and sum("recorded train job" in ln for ln in lines) == 2
    # Done once: a second resume finds nothing to do.
    with joblog.submit_lock(root):
        assert joblog.resume(root, lines.append) == []
    assert fake_slurm.read_text().count("scontrol release") == 1


def test_failed_sbatch_leaves_an_abandoned_intent_and_no_pickles(tmp_path, fake_slurm, capsys):
    root = tmp_path / "runs"
    assert repro_main(["submit", "demo/digits/nfe1", "--smoke", "--runs", str(root)]) == 2
    assert "sbatch failed" in capsys.readouterr().err
    assert [e.get("event") for e in joblog.load_journal(root)] == ["intent", "abandoned"]
    assert not list((joblog.slurm_folder(root) / "pending").iterdir())


def test_status_shows_steps_requeues_logs_errors_and_filters(tmp_path, monkeypatch, capsys):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    scripts = {
        "scontrol": 'echo "Slurmctld(primary) at x is UP"',
        "squeue": ":",
        # submitit's watcher asks JobID,State,NodeList; `sacct -D` lists one line per run
        "sacct": 'case "$*" in *-D*) printf "93400_0\\n93400_0\\n93400_0\\n93401\\n";; '
                 '*) printf "JobID|State|NodeList\\n93400_0|RUNNING|vm\\n93401|FAILED|vm\\n";; esac',
    }
    for name, body in scripts.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    (bin_ / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (bin_ / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "runs"
    train = submission.PlannedJob("train", "k93", ["r/a"], (), extra={"target_steps": 40})
    joblog.record_job(root, train, job_id="93400_0", tasks=1)
    joblog.record_job(root, submission.PlannedJob("eval", "k93", ["r/a"], (), depends_on="93400_0"), job_id="93401", tasks=1)
    (root / "k93").mkdir()
    (root / "k93" / "metrics.jsonl").write_text('{"step": 16, "loss": 1}\n{"step": 17, "loss": 1}\n')
    err = jobstates._job_handle(joblog.load_jobs(root)[1]).paths.stderr
    err.parent.mkdir(parents=True)
    err.write_text("Traceback (most recent call last):\nValueError: boom\nsrun: error: task 0: Exited\n")

    assert repro_main(["status", "--runs", str(root)]) == 1
    out = capsys.readouterr().out
    train_line, eval_line = [ln for ln in out.splitlines() if ln.strip().startswith("934")]
    assert "RUNNING" in train_line and "step 17/40" in train_line and "requeued 2x" in train_line, out
    assert "FAILED" in eval_line and "after 93400_0" in eval_line and "requeued" not in eval_line, out
    assert f"log: {err}" in out and "error: ValueError: boom" in out
    assert repro_main(["status", "--runs", str(root), "--state", "running"]) == 0
    out = capsys.readouterr().out
    assert "93400_0" in out and "93401" not in out
    assert repro_main(["status", "--runs", str(root), "--state", "RUNNNING"]) == 2
    assert "unknown state RUNNNING" in capsys.readouterr().err
