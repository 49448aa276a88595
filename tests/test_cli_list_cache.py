"""`repro list` keeps its listing under REPRO_CACHE keyed by the code, the row files, the records and
its arguments: a change to any of them is seen at once."""
import json
import shutil
from pathlib import Path

from repro.cli import main

GIN = Path(__file__).resolve().parent.parent / "gin"


def _list(capsys, *args):
    assert main(["list", "--json", *args]) == 0
    return {r["id"]: r for r in json.loads(capsys.readouterr().out)}


def test_cache_follows_rows_and_records(isolated, monkeypatch, capsys):
    gin = isolated / "gin"
    shutil.copytree(GIN, gin)
    monkeypatch.setenv("REPRO_GIN", str(gin))
    first = _list(capsys, "demo/*")
    assert (isolated / "cache" / "list-cache.json").is_file()
    assert _list(capsys, "demo/*") == first                       # from the cache
    # a changed row file: the new label shows
    row = gin / "demo" / "digits" / "nfe1.gin"
    row.write_text(row.read_text() + "\nClaim.label = 'renamed'\n")
    assert _list(capsys, "demo/*")["demo/digits/nfe1"]["label"] == "renamed"
    # a new record: the status changes
    from repro.results.records import make_record, write_record
    from repro.rows import load_row
    write_record(make_record(load_row("demo/digits/nfe1"), {"w2_pixels": 1.0}, {"impl": "t"}, None,
                             {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 1},
                             extra={"git": {"commit": "a" * 40, "dirty": False}}))
    assert _list(capsys, "demo/*")["demo/digits/nfe1"]["status"] != first["demo/digits/nfe1"]["status"]
    # other arguments are other listings
    assert set(_list(capsys, "demo/digits/nfe2")) == {"demo/digits/nfe2"}
