"""`repro export` / `repro import`: records (+ checkpoints by hash) travel as one archive, and an
import checks everything before writing anything."""
import io
import json
import tarfile

import pytest

from repro.cli import main
from repro.io import ReproError
from repro.results import archive
from repro.results import records as registry


def _record(tmp_path):
    from repro.rows import load_row

    row = load_row("demo/digits/nfe1")
    ckpt = tmp_path / "run" / "step.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights v1")
    rec = registry.make_record(row, {"w2_pixels": 0.2}, {"impl": "repro"}, ckpt,
                               {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 10},
                               hardware={"device": "cpu", "count": 1},
                               extra={"git": {"commit": "a" * 40, "dirty": False}})
    return registry.write_record(rec, tmp_path / "src"), ckpt, rec


def test_round_trip_with_checkpoint(tmp_path, monkeypatch, capsys):
    path, ckpt, rec = _record(tmp_path)
    out = tmp_path / "send.tar.gz"
    assert main(["export", str(path), "-o", str(out), "--with-checkpoints"]) == 0
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    dest = tmp_path / "dest"
    assert main(["import", str(out), "--tables", str(dest)]) == 0
    got = dest / "results" / "demo/digits/nfe1" / path.name
    assert got.read_bytes() == path.read_bytes()
    stored = tmp_path / "cache" / "checkpoints" / f"{rec['checkpoint']['sha256']}.pt"
    assert stored.read_bytes() == b"weights v1"
    # importing again: identical records are left alone; a different one is never overwritten
    assert main(["import", str(out), "--tables", str(dest)]) == 0
    assert "already there" in capsys.readouterr().out
    got.write_text(got.read_text().replace("0.2", "0.3"))
    assert main(["import", str(out), "--tables", str(dest)]) == 2
    assert "never overwritten" in capsys.readouterr().err


def _tar(tmp_path, members, manifest=True):
    out = tmp_path / "evil.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        if manifest:
            data = json.dumps({"format": archive.FORMAT, "version": archive.VERSION}).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def _file(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize("name", ["../escape.json", "/abs/records/x.json", "records/../../x.json"])
def test_path_traversal_refused(tmp_path, name):
    bad = _tar(tmp_path, [_file(name, b"{}")])
    with pytest.raises(ReproError, match="outside the archive"):
        archive.import_archive(bad, tables=tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_links_refused(tmp_path):
    link = tarfile.TarInfo("records/demo/digits/nfe1/x.json")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(ReproError, match="link or special file"):
        archive.import_archive(_tar(tmp_path, [(link, None)]), tables=tmp_path / "dest")


def test_invalid_record_or_wrong_hash_refuses_everything(tmp_path):
    path, _, rec = _record(tmp_path)
    good = _file(f"records/demo/digits/nfe1/{path.name}", path.read_bytes())
    broken = dict(rec, ours="not numbers")
    bad = _file("records/demo/digits/nfe1/b.json", json.dumps(broken).encode())
    with pytest.raises(ReproError, match="b.json"):
        archive.import_archive(_tar(tmp_path, [good, bad]), tables=tmp_path / "dest")
    assert not (tmp_path / "dest" / "results").exists()
    wrong = _file("checkpoints/" + "0" * 64 + ".pt", b"weights")
    with pytest.raises(ReproError, match="does not hash to its name"):
        archive.import_archive(_tar(tmp_path, [good, wrong]), tables=tmp_path / "dest",
                               cache=tmp_path / "cache")
    assert not (tmp_path / "dest" / "results").exists()
    assert not list((tmp_path / "cache" / "checkpoints").iterdir())
    moved = _file("records/demo/other/x.json", path.read_bytes())
    with pytest.raises(ReproError, match="lies under"):
        archive.import_archive(_tar(tmp_path, [moved]), tables=tmp_path / "dest")
