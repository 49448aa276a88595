"""A built wheel carries every row and profile, and `repro list` works from it outside any checkout.

Builds offline (--no-build-isolation: the setuptools of the test environment), from a copy of the
sources so that the checkout gets no build/ or egg-info of the test's.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
VARS = ("REPRO_GIN", "REPRO_ROOT", "REPRO_RUNS", "REPRO_TABLES")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, src / name)
    for name in ("repro", "gin", "slurm"):
        shutil.copytree(CHECKOUT / name, src / name, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "-w", str(out), "--no-deps",
                        "--no-build-isolation", "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("repro-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_every_row_profile_and_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    gin = sorted(p.relative_to(CHECKOUT / "gin").as_posix() for p in (CHECKOUT / "gin").rglob("*.gin"))
    profiles = sorted(p.name for p in (CHECKOUT / "slurm" / "profiles").glob("*.toml"))
    assert gin and profiles
    assert [g for g in gin if f"repro/_gin/{g}" not in names] == []
    assert [p for p in profiles if f"repro/_profiles/{p}" not in names] == []
    # pyproject.toml lists the packages by hand; one left out would be missing from the wheel.
    packages = sorted(p.parent.relative_to(CHECKOUT).as_posix()
                      for p in (CHECKOUT / "repro").rglob("__init__.py") if "__pycache__" not in p.parts)
    assert [p for p in packages if f"{p}/__init__.py" not in names] == []


@pytest.mark.slow
def test_repro_list_from_the_unpacked_wheel_outside_any_project(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if k not in VARS and k != "PYTHONPATH"}
    # The unpacked wheel goes first on sys.path, ahead of the checkout's editable finder (which
    # setuptools appends to sys.meta_path, after the path-based finder).
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import repro, repro.paths as p; "
            "print('PACKAGE', repro.__file__); print('GIN', p.gin_dir()); "
            "from repro.cli import main; sys.exit(main(['list']))")
    r = subprocess.run([sys.executable, "-c", code, str(site)], cwd="/", env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert f"PACKAGE {site / 'repro' / '__init__.py'}" in lines
    assert f"GIN {site / 'repro' / '_gin'}" in lines
    from repro.rows import all_row_ids
    listed = {ln.split("|")[1].strip() for ln in lines if ln.startswith("|")}
    missing = [i for i in all_row_ids() if i not in listed]
    assert missing == [], missing
    # no project at or above /: runs and tables fall back to the cwd, said once on stderr
    notes = [ln for ln in r.stderr.splitlines() if "no project root" in ln]
    assert len(notes) == 1 and "REPRO_ROOT" in notes[0], r.stderr
