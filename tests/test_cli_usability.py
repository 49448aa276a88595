"""The command line as a user meets it: closed pipes, typos, readable `repro show`, an empty job
log, and light commands that never load torch."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from repro.launch import joblog, jobstates
from repro.cli import main
from repro.commands.show import fmt
from repro.io import ReproError


def _repro_closed_stdout(*args):
    """Run `repro ARGS` with a stdout pipe whose reader is gone before anything is written."""
    p = subprocess.Popen([sys.executable, "-m", "repro.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader closes early, as `| head` does once it has its lines
    err = p.stderr.read().decode()
    return p.wait(timeout=120), err


@pytest.mark.parametrize("args", [("list", "--json"), ("show", "demo/digits/nfe1")])
def test_closed_pipe_exits_quietly(args):
    rc, err = _repro_closed_stdout(*args)
    assert rc == 141, err  # 128 + SIGPIPE, as a shell reports `yes | head`
    assert err == ""


def test_pipe_into_head_keeps_the_first_lines():
    head = subprocess.run(f"{sys.executable} -m repro.cli list --json | head -n 2", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert head.stdout.splitlines() == ["[", "  {"]
    assert "Traceback" not in head.stderr and "BrokenPipeError" not in head.stderr


# ------------------------------------------------------------------------ did you mean


def test_unknown_row_suggests_near_ids():
    from repro.rows import expand, load_row

    with pytest.raises(ReproError, match=r"did you mean 'slct/t2c/cauchy'"):
        expand(["slct/t2c/cauchyy"])
    with pytest.raises(ReproError, match=r"did you mean 'slct/t2c'"):  # a table prefix is a valid pattern
        expand(["slct/t2cc"])
    with pytest.raises(ReproError, match=r"no such row file; did you mean 'demo/digits/nfe1'"):
        load_row("demo/digit/nfe1")
    with pytest.raises(ReproError) as e:
        load_row("zzzz/qqqq")
    assert "did you mean" not in str(e.value) and "`repro list` shows the rows" in str(e.value)


def test_unknown_row_suggestion_for_show_is_a_full_row_id(capsys):
    from repro.rows import all_row_ids

    assert main(["show", "slct/t1/ffhq/our"]) == 2
    err = capsys.readouterr().err
    suggested = err.split("did you mean ")[1].split("?")[0].replace("'", "").split(" or ")
    assert suggested and set(suggested) <= set(all_row_ids()), err


def test_unknown_profile_suggests_near_name():
    from repro.launch.profiles import load_profile, profile_names

    name = profile_names()[0]
    with pytest.raises(ReproError, match=f"did you mean '{name}'"):
        load_profile(name[:-1])


def test_unknown_command_suggests_near_name(capsys):
    with pytest.raises(SystemExit) as e:
        main(["lst"])
    assert e.value.code == 2
    assert "did you mean 'list'?" in capsys.readouterr().err


# ------------------------------------------------------------------------ repro show


def test_fmt_reads_like_text():
    assert fmt(None) == "—"
    assert fmt(True) == "yes" and fmt(False) == "no"
    assert fmt(5.0) == "5" and fmt(0.0001) == "0.0001" and fmt(-1.1) == "-1.1"
    assert fmt(294000) == "294,000" and fmt(640) == "640"
    assert fmt((1, 2, 3)) == "1, 2, 3" and fmt([80.0, 0.821]) == "80, 0.821" and fmt(()) == "—"
    assert fmt({"r": 0.25, "weighting": "edm"}) == "r 0.25, weighting edm"


@pytest.mark.parametrize("row", ["slct/t2a/plus_ot", "slct/t1/celebahq/ldm8dagger", "ict/cifar10/ict/nfe2",
                                 "demo/digits/nfe1"])
def test_show_prints_no_python_reprs(row, capsys):
    assert main(["show", row, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert main(["show", row]) == 0
    summary = capsys.readouterr().out.split("\n# operative config\n")[0]
    lists = [s["model"]["channel_mult"], s["ema_rates"], s["sampler_sigmas"]]
    for raw in ("None", "True", "False", "{", "}", *(str(v) for v in lists if v),
                str(tuple(s["model"]["channel_mult"]))):
        assert raw not in summary, (raw, summary)
    for key, value in s["switches"].items():
        assert f"\n    {key}: {fmt(value)}\n" in summary
    if s["claim"]["precision"] is None:
        assert "precision not reported" in summary
    assert "params not counted (--params" in summary


def test_show_params_only_on_request(capsys):
    assert main(["show", "demo/digits/nfe1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["params"] is None
    assert main(["show", "demo/digits/nfe1", "--json", "--params"]) == 0
    counted = json.loads(capsys.readouterr().out)["model"]["params"]
    from repro.nn import count_params
    from repro.rows import load_row

    assert counted == count_params(load_row("demo/digits/nfe1").model)
    assert main(["show", "demo/digits/nfe1", "--params"]) == 0
    assert f"{counted / 1e6:.2f} M params" in capsys.readouterr().out


# ------------------------------------------------------------------------ repro cancel


def test_cancel_all_with_an_empty_job_log_does_not_ask_slurm(tmp_path, monkeypatch, capsys):
    def unreachable(*a, **k):
        raise ReproError("SLURM not reachable: test")

    monkeypatch.setattr(jobstates, "check_slurm", unreachable)
    assert main(["cancel", "--all", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "no jobs recorded" in out.out and "SLURM" not in out.out + out.err
    # with a recorded job there is something to cancel, and then SLURM matters
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / joblog.JOBLOG_NAME).write_text(json.dumps(
        {"job_id": "7", "kind": "train", "training_key": "k", "rows": ["r"], "folder": str(tmp_path / "%j")}) + "\n")
    assert main(["cancel", "--all", "--runs", str(tmp_path)]) == 2
    assert "SLURM not reachable" in capsys.readouterr().err


# ------------------------------------------------------------------------ no torch


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["show", "slct/t2c/cauchy"],
                                  ["show", "ict/cifar10/ict/nfe2", "--json"], ["status"],
                                  ["cancel", "--all"], ["tables"]])
def test_light_commands_never_import_torch(args, tmp_path):
    env = dict(os.environ, REPRO_RUNS=str(tmp_path / "runs"), REPRO_TABLES=str(tmp_path / "tables"))
    code = textwrap.dedent(f"""
        import sys
        from repro.cli import main
        rc = main({args!r})
        print(rc, "torch" in sys.modules, file=sys.stderr)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "0 False", r.stderr
