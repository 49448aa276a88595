"""Result records: provenance, validation, atomic and concurrent writes, loading."""
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from repro.io import ReproError
from repro.results import records as registry
from repro.results import schema, selection
from repro.specs import Claim, DataSpec, Row

from helpers.specs import recipe


def _row(row_id="slct/t2c/cauchy", **claim):
    claim = {"paper": "sLCT", "table": "2c", "label": "Cauchy", "nfe": 1, "fid": 7.27,
             "recall": 0.50, **claim}
    return Row(id=row_id, claim=Claim(**claim), data=DataSpec("celebahq256", 256),
               **recipe(train=dict(epochs=1400), eval=dict(reference="celebahq256")),
               operative_config="# operative config\nrow.x = 1\n", switches=(("loss_reduction", "mean"),))


def _record(row=None, ours=None, date=None, ckpt=None, **extra):
    row = row or _row()
    if date:
        extra["date"] = date
    return registry.make_record(
        row, ours or {"fid": 7.5, "recall": 0.49},
        {"impl": "clean-fid", "reference_sha256": "ab" * 32, "extractor": "inception-v3"},
        ckpt, {"wall_s": 3600.0, "gpu_hours": 8.0, "steps": 1000},
        hardware={"device": "test", "count": 8}, extra=extra)


def test_make_record_fills_provenance_and_round_trips(tmp_path):
    ckpt = tmp_path / "latest.pt"
    ckpt.write_bytes(b"weights")
    rec = _record(ckpt=ckpt)
    assert set(schema.REQUIRED) <= set(rec)
    assert rec["checkpoint"]["sha256"] == registry.sha256_file(ckpt)
    assert rec["protocol"]["num_samples"] == 50000 and rec["protocol"]["impl"] == "clean-fid"
    assert rec["protocol"]["reference"] == "celebahq256"       # filled from row.eval
    assert rec["switches"] == {"loss_reduction": "mean"}
    assert rec["training_key"] == _row().training_key
    assert "numpy" in rec["packages"] and rec["packages"]["numpy"]
    assert set(rec["git"]) == {"commit", "dirty"}
    path = registry.write_record(rec, tmp_path)
    assert path.parent == tmp_path / "results" / "slct" / "t2c" / "cauchy"
    df = registry.load_records(tmp_path)
    assert len(df) == 1
    r = df.iloc[0]
    assert r["row"] == "slct/t2c/cauchy" and r["ours.fid"] == 7.5 and r["claim.fid"] == 7.27
    assert r["protocol.reference_sha256"] == "ab" * 32 and r["path"] == str(path)
    assert json.loads(path.read_text()) == json.loads(json.dumps(rec))


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("ours"), "missing key 'ours'"),
    (lambda r: r["protocol"].pop("nfe"), "'protocol' lacks nfe"),
    (lambda r: r.update(schema_version=99), "unknown schema_version 99"),
    (lambda r: r["ours"].update(fid=float("nan")), "ours.fid"),
    (lambda r: r.update(row="../escape"), "not a row name"),
    (lambda r: r.update(date="yesterday"), "date"),
])
def test_invalid_record_is_never_written(tmp_path, mutate, message):
    rec = _record()
    mutate(rec)
    with pytest.raises(ReproError, match=message):
        registry.write_record(rec, tmp_path)
    assert not list(tmp_path.rglob("*"))


@pytest.mark.parametrize("content, message", [
    ('{"schema_version": 1, "row": ', "malformed JSON"),
    ('[1, 2]', "not a result record"),
    ('{"schema_version": 7}', "unknown schema_version 7"),
])
def test_malformed_record_error_names_the_file(tmp_path, content, message):
    registry.write_record(_record(), tmp_path)
    bad = tmp_path / "results" / "slct" / "t2c" / "cauchy" / "20250101T000000000000Z-bad.json"
    bad.write_text(content)
    with pytest.raises(ReproError, match=message) as e:
        registry.load_records(tmp_path)
    assert str(bad) in str(e.value)


def test_record_under_the_wrong_row_directory_is_an_error(tmp_path):
    path = registry.write_record(_record(), tmp_path)
    other = tmp_path / "results" / "slct" / "t2c" / "huber"
    other.mkdir(parents=True)
    path.rename(other / path.name)
    with pytest.raises(ReproError, match="lies under slct/t2c/huber"):
        registry.load_records(tmp_path)


CLEAN = {"commit": "a" * 40, "dirty": False}


def test_selection_shows_the_latest_record(tmp_path):
    for date, fid in [("2025-03-01T00:00:00.000000Z", 9.0), ("2025-05-01T00:00:00.000000Z", 7.0),
                      ("2025-04-01T00:00:00.000000Z", 8.0)]:
        registry.write_record(_record(ours={"fid": fid}, date=date, git=CLEAN), tmp_path)
    shown = selection.select_shown(registry.load_records(tmp_path))
    assert len(shown) == 1 and shown.iloc[0]["ours.fid"] == 7.0


@pytest.mark.parametrize("git, reason", [
    ({"commit": "a" * 40, "dirty": True}, "uncommitted changes"),
    ({"commit": "a" * 40, "dirty": None}, "may have had uncommitted changes"),
    ({"commit": None, "dirty": None}, "git commit unknown"),
])
def test_selection_skips_records_without_clean_provenance(tmp_path, git, reason):
    registry.write_record(_record(ours={"fid": 9.0}, date="2025-03-01T00:00:00.000000Z", git=CLEAN),
                          tmp_path)
    newer = _record(ours={"fid": 7.0}, date="2025-05-01T00:00:00.000000Z", git=git)
    assert reason in selection.hidden_reason(newer)
    path = registry.write_record(newer, tmp_path)              # kept in the registry...
    df = registry.load_records(tmp_path)
    assert str(path) in set(df["path"]) and len(df) == 2
    shown = selection.select_shown(df)                          # ...but the older clean one shows
    assert len(shown) == 1 and shown.iloc[0]["ours.fid"] == 9.0
    assert list(selection.shown_mask(df)) == [True, False]


def test_smoke_record_never_enters_the_registry(tmp_path):
    rec = _record(git=CLEAN, row_args={"overrides": [], "smoke": True})
    assert selection.is_smoke(rec) and "smoke" in selection.hidden_reason(rec)
    with pytest.raises(ReproError, match="smoke records never enter the registry"):
        registry.write_record(rec, tmp_path)
    assert not list(tmp_path.rglob("*.json"))
    assert selection.hidden_reason(_record(git=CLEAN, row_args={"smoke": False})) is None


def _writer(root, record, start):
    start.wait()
    registry.write_record(record, root)


def test_64_concurrent_writers_all_land(tmp_path):
    ctx = mp.get_context("fork")
    start = ctx.Event()
    base = _record()     # one provenance lookup; the children only write
    records = [{**base, "row": f"slct/t2d/w{i % 4}", "ours": {"fid": float(i)}} for i in range(64)]
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), r, start)) for r in records]
    for p in procs:
        p.start()
    start.set()          # all 64 write at once
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 64
    df = registry.load_records(tmp_path)
    assert len(df) == 64 and df["path"].nunique() == 64
    assert sorted(df["ours.fid"]) == [float(i) for i in range(64)]
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_killed_writer_leaves_no_torn_record(tmp_path):
    registry.write_record(_record(), tmp_path)          # one good record already there
    ready = tmp_path / "ready"
    # the child writes a big record and is killed after its bytes hit the temp file, before
    # the rename: exactly the moment a torn record would appear without the temp+rename scheme
    code = textwrap.dedent(f"""
        import os, time, pathlib, sys
        sys.path.insert(0, {str(os.getcwd())!r})
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})   # for helpers.specs
        from tests.test_results_records import _record
        from repro.results import records as registry
        def stall(*a, **k):
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(60)
        os.replace = stall
        registry.write_record(_record(operative_config="x" * 60_000), {str(tmp_path)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd())
    try:
        for _ in range(300):
            if ready.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), "the writer never reached the rename"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    temps = [p for p in tmp_path.rglob("*") if p.name.startswith(".") and p.is_file()]
    assert temps and temps[0].stat().st_size > 50_000    # the half-done write is there...
    df = registry.load_records(tmp_path)                       # ...and is never read
    assert len(df) == 1 and df.iloc[0]["operative_config"].startswith("# operative")


def test_failed_rename_cleans_up(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        registry.write_record(_record(), tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_empty_registry_loads_as_an_empty_frame(tmp_path):
    df = registry.load_records(tmp_path)
    assert len(df) == 0 and "row" in df.columns
