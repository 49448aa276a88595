"""Tables that cannot lie: record text is inert in markdown, records are validated on read
(dates, types, sizes), files that do not belong in the registry are refused by name, and a shown
result whose provenance is not clean says so."""
import json
import os

import pytest

from repro.cli import main
from repro.results import records as registry
from repro.results import schema

CLEAN = {"commit": "a" * 40, "dirty": False}


def _record(row_id="demo/digits/nfe1", ckpt=None, **extra):
    from repro.rows import load_row
    rec = registry.make_record(load_row(row_id), {"w2_pixels": 480.0}, {"impl": "repro"}, ckpt,
                               {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 10},
                               hardware={"device": "cpu", "count": 1}, extra={"git": CLEAN})
    rec.update(extra)
    return rec


def _place(root, rec, name="20250101T000000000000Z-x.json"):
    d = root / "results" / rec["row"]
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(rec))
    return d / name


def _tables(root, capsys, *extra):
    rc = main(["tables", "--root", str(root), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def test_protocol_text_cannot_inject_markdown(tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"w")
    rec = _record(ckpt=ckpt)
    rec["protocol"]["impl"] = "x\n## Fake heading\n| demo | 1 | 0.0 | [link](http://evil) <b>"
    _place(tmp_path, rec)
    rc, _, err = _tables(tmp_path, capsys)
    assert rc == 0, err
    md = (tmp_path / "demo.md").read_text()
    assert not any(line.startswith("## Fake") or line.startswith("| demo |") for line in md.splitlines())
    assert "\\[link\\]" in md and "\\<b\\>" in md and "[link](http" not in md


@pytest.mark.parametrize("date,why", [("2099-01-01T00:00:00.000000Z", "in the future"),
                                      ("2099-99-99T99:99:99.000000Z", "not a real date")])
def test_dates_checked(tmp_path, capsys, date, why):
    _place(tmp_path, _record(date=date))
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and why in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("field,value,why", [
    ("num_samples", float("inf"), "non-negative integer"), ("num_samples", [1, 2], "non-negative integer"),
    ("sigmas", "80", "list of finite numbers"), ("impl", 5, "text or null")])
def test_protocol_types_checked(tmp_path, capsys, field, value, why):
    rec = _record()
    rec["protocol"][field] = value
    path = _place(tmp_path, rec)
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and str(path) in err and why in err and len(err.strip().splitlines()) == 1, err


def test_oversized_record_refused_without_reading_it_whole(tmp_path, capsys):
    rec = _record()
    rec["protocol"]["impl"] = "x" * (schema.MAX_RECORD_BYTES + 10)
    path = _place(tmp_path, rec)
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and f"{path}: " in err and "larger than any record" in err


def test_long_text_refused(tmp_path, capsys):
    rec = _record()
    rec["protocol"]["impl"] = "x" * (schema.MAX_TEXT + 1)
    _place(tmp_path, rec)
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and "protocol.impl: text of" in err


def test_fifo_refused_without_hanging(tmp_path, capsys):
    d = tmp_path / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True)
    os.mkfifo(d / "20250101T000000000000Z-fifo.json")
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and "not a regular file" in err


def test_symlink_leaving_registry_refused(tmp_path, capsys):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(_record()))
    d = tmp_path / "t" / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True)
    (d / "20250101T000000000000Z-link.json").symlink_to(outside)
    rc, _, err = _tables(tmp_path / "t", capsys, "--check")
    assert rc == 2 and "symlink leaving the registry" in err


def test_symlinked_row_directory_refused(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "t" / "results" / "demo" / "digits").mkdir(parents=True)
    (tmp_path / "t" / "results" / "demo" / "digits" / "nfe1").symlink_to(real, target_is_directory=True)
    rc, _, err = _tables(tmp_path / "t", capsys, "--check")
    assert rc == 2 and "symlinked directory" in err


def test_record_of_unknown_row_fails_check(tmp_path, capsys):
    rec = _record()
    rec["row"] = "demo/digits/nfe9"
    path = _place(tmp_path, rec)
    rc, _, err = _tables(tmp_path, capsys, "--check")
    assert rc == 2 and str(path) in err and "row that does not exist" in err


def test_shown_result_without_checkpoint_says_not_clean(tmp_path, capsys):
    _place(tmp_path, _record())                      # checkpoint: null
    assert _tables(tmp_path, capsys)[0] == 0
    md = (tmp_path / "demo.md").read_text()
    line = next(l for l in md.splitlines() if "480" in l)
    assert "not clean: no checkpoint recorded" in line


def test_shown_result_with_changed_recipe_says_not_clean(tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"w")
    rec = _record(ckpt=ckpt)
    rec["operative_config"] = rec["operative_config"].replace("LossSpec.diff_r = ", "LossSpec.diff_r = 0.5 #")
    _place(tmp_path, rec)
    assert _tables(tmp_path, capsys)[0] == 0
    line = next(l for l in (tmp_path / "demo.md").read_text().splitlines() if "480" in l)
    assert "not clean: the row's recipe changed" in line


def test_stale_temp_files_removed_by_tables(tmp_path, capsys):
    d = tmp_path / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True)
    tmp = d / ".20250101-x.json.abc.tmp"
    tmp.write_text("{")
    os.utime(tmp, (0, 0))
    rc, _, err = _tables(tmp_path, capsys)
    assert rc == 0 and not tmp.exists() and "killed writer" in err
