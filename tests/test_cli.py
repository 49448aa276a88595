"""The command line: help texts, and bad rows fail with one line and write nothing."""
import subprocess
import sys

from repro.cli import main


def _repro(*args, env=None):
    return subprocess.run([sys.executable, "-m", "repro.cli", *args], capture_output=True, text=True, env=env)


def test_help_lists_commands():
    r = _repro("--help")
    assert r.returncode == 0
    for cmd in ("run", "train", "eval", "list", "show", "tables", "verify", "data", "fetch", "submit"):
        assert f"  {cmd}" in r.stdout
    assert "repro run demo/digits" in r.stdout


def test_run_help_explains():
    r = _repro("run", "--help")
    assert r.returncode == 0
    assert "sample grid" in r.stdout and "--smoke" in r.stdout and "--steps" in r.stdout


def test_unknown_row_is_one_line_and_writes_nothing(isolated, capsys):
    assert main(["run", "slct/t9/nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown row 'slct/t9/nope'" in err and "repro list" in err
    assert not (isolated / "runs").exists() and not (isolated / "tables").exists()


def test_bad_row_file_names_file_and_line(isolated, tmp_path, monkeypatch, capsys):
    gin = tmp_path / "gin"
    (gin / "base").mkdir(parents=True)
    import shutil
    from repro.paths import gin_dir

    shutil.copy(gin_dir() / "base" / "common.gin", gin / "base" / "common.gin")
    (gin / "typo.gin").write_text("include 'base/common.gin'\nClaim.fidd = 1.0\n")
    (gin / "unknown.gin").write_text("include 'base/common.gin'\nFancySpec.x = 1\n")
    (gin / "noinclude.gin").write_text("include 'base/nothere.gin'\n")
    (gin / "syntax.gin").write_text("Claim.fid = (1,\n")
    monkeypatch.setenv("REPRO_GIN", str(gin))
    cases = {"typo": ("typo.gin:2", "Claim", "fidd"), "unknown": ("unknown.gin:2", "FancySpec", "known configurables"),
             "noinclude": ("base/nothere.gin", "noinclude.gin"), "syntax": ("syntax.gin",)}
    for row, needles in cases.items():
        assert main(["run", row]) == 2, row
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        for n in needles:
            assert n in err, (row, n, err)
    assert not (isolated / "runs").exists()


def test_bad_override_names_it(isolated, capsys):
    assert main(["show", "demo/digits/nfe1", "--set", "TrainSpec.batchsize=3"]) == 2
    err = capsys.readouterr().err
    assert "override 'TrainSpec.batchsize=3'" in err and "batchsize" in err
