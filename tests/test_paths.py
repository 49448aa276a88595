"""repro.paths: where rows, profiles, runs and tables are, from any directory."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from repro import paths

CHECKOUT = Path(__file__).resolve().parent.parent
VARS = ("REPRO_GIN", "REPRO_ROOT", "REPRO_RUNS", "REPRO_TABLES")


@pytest.fixture
def clean_env(monkeypatch):
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(paths, "_warned", False)
    return monkeypatch


@pytest.fixture
def no_checkout(clean_env):
    """As from a wheel: the package is not inside a source checkout."""
    clean_env.setattr(paths, "source_checkout", lambda: None)
    return clean_env


def _project(tmp_path, marker="results") -> Path:
    root = tmp_path / "proj"
    if marker == "results":
        (root / "tables" / "results").mkdir(parents=True)
    else:                      # a fresh project: tables/ and gin/, no results yet
        (root / "tables").mkdir(parents=True)
        (root / "gin").mkdir()
    (root / "a" / "b").mkdir(parents=True)
    return root


def test_checkout_is_found_and_gin_of_site_packages_is_not_mistaken_for_it():
    assert paths.source_checkout() == CHECKOUT
    assert paths.PACKAGE_DIR.parent == CHECKOUT
    # gin-config installs a top-level `gin` package next to repro in site-packages.
    import gin
    assert Path(gin.__file__).resolve().parent.name == "gin"
    assert not (Path(gin.__file__).resolve().parent.parent / "pyproject.toml").is_file()


def test_gin_dir_order(clean_env, tmp_path):
    assert paths.gin_dir() == CHECKOUT / "gin"
    clean_env.setenv("REPRO_GIN", str(tmp_path / "mine"))
    assert paths.gin_dir() == tmp_path / "mine"
    clean_env.setattr(paths, "source_checkout", lambda: None)
    assert paths.gin_dir() == tmp_path / "mine"
    clean_env.delenv("REPRO_GIN")
    assert paths.gin_dir() == paths.PACKAGE_DIR / "_gin"


def test_profiles_dir_order(clean_env):
    assert paths.profiles_dir() == CHECKOUT / "slurm" / "profiles"
    assert (paths.profiles_dir() / "local.toml").is_file()
    clean_env.setattr(paths, "source_checkout", lambda: None)
    assert paths.profiles_dir() == paths.PACKAGE_DIR / "_profiles"


@pytest.mark.parametrize("marker", ["results", "gin"])
def test_walks_up_from_a_subdirectory_of_a_project(no_checkout, tmp_path, marker):
    root = _project(tmp_path, marker)
    no_checkout.chdir(root / "a" / "b")
    assert paths.project_root() == root.resolve()
    assert paths.runs_root() == root.resolve() / "runs"
    assert paths.tables_root() == root.resolve() / "tables"


def test_tables_alone_is_not_a_project(no_checkout, tmp_path):
    """A stray tables/ (no results/, no gin/) must not capture the runs of a directory below."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "sub").mkdir()
    no_checkout.chdir(tmp_path / "sub")
    assert paths.project_root() is None


def test_environment_wins_over_the_walk(no_checkout, tmp_path):
    root = _project(tmp_path)
    no_checkout.chdir(root / "a")
    other = tmp_path / "other"
    no_checkout.setenv("REPRO_ROOT", str(other))
    assert paths.project_root() == other
    assert paths.runs_root() == other / "runs" and paths.tables_root() == other / "tables"
    no_checkout.setenv("REPRO_RUNS", str(tmp_path / "r"))
    no_checkout.setenv("REPRO_TABLES", str(tmp_path / "t"))
    assert paths.runs_root() == tmp_path / "r" and paths.tables_root() == tmp_path / "t"
    # --runs / --tables win over everything
    assert paths.runs_root("x") == Path("x") and paths.tables_root("y") == Path("y")


def test_empty_variables_count_as_unset(no_checkout, tmp_path):
    root = _project(tmp_path)
    no_checkout.chdir(root)
    for var in VARS:
        no_checkout.setenv(var, "")
    assert paths.runs_root() == root.resolve() / "runs"
    assert paths.gin_dir() == paths.PACKAGE_DIR / "_gin"


def test_checkout_is_the_root_when_the_cwd_is_outside_any_project(clean_env, tmp_path, capsys):
    clean_env.chdir(tmp_path)
    assert paths.project_root() == CHECKOUT
    assert paths.tables_root() == CHECKOUT / "tables"
    assert capsys.readouterr().err == ""


def test_no_root_falls_back_to_cwd_with_one_line_once(no_checkout, tmp_path, capsys):
    no_checkout.chdir(tmp_path)
    assert paths.project_root() is None
    assert paths.runs_root() == tmp_path.resolve() / "runs"
    assert paths.tables_root() == tmp_path.resolve() / "tables"
    paths.runs_root()
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "REPRO_ROOT" in err and "REPRO_TABLES" in err and str(tmp_path.resolve()) in err


def test_tables_check_from_another_directory_sees_the_checkout_tables(tmp_path):
    """The bug this module fixes: from elsewhere, `repro tables --check` saw no records and
    called every table stale. Now it checks the checkout's tables/ wherever it runs."""
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    ran = subprocess.run([sys.executable, "-m", "repro.cli", "tables", "--check"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    here = subprocess.run([sys.executable, "-m", "repro.cli", "tables", "--check"], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert (ran.returncode, ran.stdout) == (here.returncode, here.stdout), (ran.stdout, ran.stderr)
    assert str(CHECKOUT / "tables") in ran.stdout
    assert "no project root" not in ran.stderr
