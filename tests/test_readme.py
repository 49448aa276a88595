"""README's commands are the ones CI and users run."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("## The two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [l.strip() for l in block.splitlines() if l.strip() and not l.strip().startswith("#")]


def test_readme_has_two_commands_and_ci_runs_the_test_one():
    default_job, tests = _commands()
    assert default_job.startswith("pip install -e . && repro run demo/digits")
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in [l.strip() for l in ci], ".ci/run must run the README's test command unchanged"


def test_default_job_rows_exist():
    from repro.rows import expand

    assert expand(["demo/digits"]) == ["demo/digits/nfe1", "demo/digits/nfe2"]
