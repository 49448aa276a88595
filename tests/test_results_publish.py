"""What a user's run does to tables/: a smoke run touches nothing there; a full run adds its
record, re-renders only what changed, lists every file it created or changed, and a record from
uncommitted code is kept but not shown."""
import shutil
import subprocess
from pathlib import Path

from repro.results import records as registry
from repro.cli import main
from repro.commands.run import _refresh_tables
from repro.rows import load_row

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_smoke_run_leaves_the_tables_byte_for_byte(isolated, capsys):
    tables = isolated / "tables"
    shutil.copytree(ROOT / "tables", tables)          # the published tables and their records
    before = _snapshot(tables)
    assert main(["run", "demo/digits", "--smoke", "--num", "16"]) == 0
    out = capsys.readouterr().out
    assert _snapshot(tables) == before
    records = sorted((isolated / "runs").rglob("record.json"))
    assert [p.parent.name for p in records] == ["demo__digits__nfe1", "demo__digits__nfe2"]
    for path in records:
        assert registry.read_record(path)["row_args"]["smoke"] is True
        assert f"smoke record: {path} (kept beside its run; smoke records never enter tables)" in out
    assert "files under" not in out                    # no tables were re-rendered


def _record(ours, git):
    row = load_row("demo/digits/nfe1")
    return registry.make_record(row, ours, {"impl": "test"}, None,
                                {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 600},
                                hardware={"device": "test", "count": 1},
                                extra={"git": git, "row_args": {"overrides": [], "smoke": False}})


def test_full_run_lists_what_it_changed_and_hides_a_dirty_record(isolated, capsys):
    tables = isolated / "tables"
    subprocess.run(["git", "init", "-q", str(isolated)], check=True)
    assert main(["tables"]) == 0
    before = _snapshot(tables)
    capsys.readouterr()

    dirty = registry.write_record(_record({"w2_pixels": 111.1}, {"commit": "b" * 40, "dirty": True}),
                                  tables)
    _refresh_tables(None, [dirty])
    out = capsys.readouterr().out
    listed = [ln.strip() for ln in out.splitlines() if ln.startswith("  ")]
    assert listed == [f"created {dirty}"]                # the record only: no table changed
    assert "`git status" in out and "`git diff" in out
    after = _snapshot(tables)
    assert after.pop(dirty.relative_to(tables).as_posix()) and after == before

    clean = registry.write_record(_record({"w2_pixels": 222.2}, {"commit": "c" * 40, "dirty": False}),
                                  tables)
    _refresh_tables(None, [clean])
    listed = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert listed == [f"created {clean}", f"changed {tables / 'demo.md'}"]
    demo = (tables / "demo.md").read_text()
    assert "222.2" in demo and "111.1" not in demo
