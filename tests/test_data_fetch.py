"""`repro fetch` offline: sizes, progress, resume over HTTP Range, sha256 of every asset.

The asset table is patched to small fake files served by file:// URLs or by a local
http.server on 127.0.0.1 whose Range support, validator and cut-off point each test chooses.
"""
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from repro.cli import main
from repro.data import assets
from repro.data.assets import MANIFEST, Asset, fetch

BLOB = bytes(range(256)) * 12 + b"tail"          # 3076 bytes, spans several reads when cut
SHA = hashlib.sha256(BLOB).hexdigest()


class Server:
    """Serves `files` ({path: bytes}); `ranges` honours Range/If-Range; `cut_at` closes the
    connection after that many body bytes (Content-Length still announces the whole file)."""

    def __init__(self):
        self.files, self.ranges, self.cut_at, self.etag = {}, True, None, '"v1"'
        self.requests, self.seen_dest = [], []
        self.watch = None
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                srv.requests.append({"range": self.headers.get("Range"),
                                     "if_range": self.headers.get("If-Range")})
                if srv.watch is not None:
                    srv.seen_dest.append(srv.watch.exists())
                body = srv.files[self.path]
                start, rng = 0, self.headers.get("Range")
                if srv.ranges and rng and self.headers.get("If-Range") in (None, srv.etag):
                    start = int(rng.split("=")[1].rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("ETag", srv.etag)
                self.end_headers()
                chunk = body[start:]
                if srv.cut_at is not None:
                    chunk = chunk[:srv.cut_at]
                    self.close_connection = True
                self.wfile.write(chunk)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("REPRO_CACHE", str(root))
    monkeypatch.delenv("REPRO_NO_PROGRESS", raising=False)
    return root


def _table(monkeypatch, *items):
    monkeypatch.setattr(assets, "ASSETS", {a.name: a for a in items})


def _manifest(root):
    return json.loads((root / MANIFEST).read_text())["assets"]


def test_file_url_hash_pinned_on_first_fetch_then_checked(tmp_path, cache, monkeypatch, capsys):
    src = tmp_path / "src.bin"
    src.write_bytes(BLOB)
    _table(monkeypatch, Asset("blob", src.as_uri(), "d/blob.bin", "g"))
    assert main(["fetch", "--no-progress"]) == 0
    out = capsys.readouterr().out
    dest = cache / "d" / "blob.bin"
    assert dest.read_bytes() == BLOB and not (cache / "d" / "blob.bin.part").exists()
    assert f"download {assets._human(len(BLOB))}" in out            # Content-Length of file://
    assert f"sha256 {SHA} recorded in {cache / MANIFEST}" in out
    assert _manifest(cache)["d/blob.bin"]["sha256"] == SHA

    assert main(["fetch", "--no-progress"]) == 0                    # cached: checked, not fetched
    assert "sha256 ok (manifest; unchanged" in capsys.readouterr().out

    dest.write_bytes(b"bit rot" + BLOB[7:])                          # the cached copy goes bad
    os.utime(dest, ns=(1, 1))
    assert main(["fetch", "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "set aside as" in cap.err and SHA in cap.err
    assert (cache / "d" / "blob.bin.corrupt").is_file() and dest.read_bytes() == BLOB

    src.write_bytes(BLOB[::-1])                                      # the publisher's file changes
    dest.unlink()
    assert main(["fetch", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    bad = hashlib.sha256(BLOB[::-1]).hexdigest()
    assert len(err) == 1 and "blob.bin: sha256 mismatch" in err[0] and SHA in err[0] and bad in err[0]
    err = err[0]
    assert "the download was removed" in err and MANIFEST in err
    assert not dest.exists() and not list((cache / "d").glob("blob.bin.part*"))


def test_published_hash_checked_and_dry_run_sizes(tmp_path, cache, monkeypatch, capsys):
    src = tmp_path / "src.bin"
    src.write_bytes(BLOB)
    good = Asset("good", src.as_uri(), "good.bin", "g", sha256=SHA, size=len(BLOB))
    wrong = Asset("wrong", src.as_uri(), "wrong.bin", "g", sha256="0" * 64)
    _table(monkeypatch, good, wrong)
    assert main(["fetch", "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "3.1 kB" in lines[0] and "size ?" in lines[1]
    assert f"{src.as_uri()} -> {cache / 'good.bin'}" in lines[0]
    assert not cache.exists() or not any(cache.iterdir())

    with pytest.raises(assets.ReproError) as e:
        fetch(progress=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("wrong.bin: sha256 mismatch: expected " + "0" * 64)
    assert SHA in msg
    assert (cache / "good.bin").read_bytes() == BLOB and not (cache / "wrong.bin").exists()
    assert _manifest(cache)["good.bin"]["hash_source"] == "published"
    assert "wrong.bin" not in _manifest(cache)

    fetch(dry_run=True, only="good")                                   # cached: its real size
    assert "cached" in capsys.readouterr().out


def test_cut_download_resumes_with_range(server, cache, monkeypatch, capsys):
    server.files["/blob"] = BLOB
    server.cut_at = 1000
    _table(monkeypatch, Asset("blob", server.url + "/blob", "blob.bin", "g"))
    dest = cache / "blob.bin"
    server.watch = dest
    with pytest.raises(assets.ReproError, match="connection ended at byte 1000 of 3076.*resume"):
        fetch(progress=False)
    part = cache / "blob.bin.part"
    assert part.read_bytes() == BLOB[:1000] and not dest.exists()

    server.cut_at = None
    fetch(progress=False)
    out = capsys.readouterr().out
    assert server.requests[-1] == {"range": "bytes=1000-", "if_range": '"v1"'}
    assert "resuming at 1.0 kB of 3.1 kB" in out
    assert dest.read_bytes() == BLOB and not part.exists() and not (cache / "blob.bin.part.json").exists()
    assert server.seen_dest == [False, False]          # the target appears only when complete
    assert _manifest(cache)["blob.bin"]["sha256"] == SHA


def test_restart_when_server_ignores_ranges_or_file_changed(server, cache, monkeypatch, capsys):
    server.files["/blob"] = BLOB
    _table(monkeypatch, Asset("blob", server.url + "/blob", "blob.bin", "g"))
    server.cut_at = 500
    with pytest.raises(assets.ReproError):
        fetch(progress=False)
    server.cut_at, server.ranges = None, False
    fetch(progress=False)
    assert "cannot resume blob.bin.part" in capsys.readouterr().out
    assert (cache / "blob.bin").read_bytes() == BLOB

    (cache / "blob.bin").unlink()                       # now: the file changed since the part began
    server.ranges, server.cut_at = True, 500
    with pytest.raises(assets.ReproError):
        fetch(progress=False)
    server.etag, server.cut_at = '"v2"', None
    fetch(progress=False)
    assert server.requests[-1]["if_range"] == '"v1"'    # asked; the server answered 200
    assert "cannot resume" in capsys.readouterr().out
    assert (cache / "blob.bin").read_bytes() == BLOB


def test_inconsistent_partial_files_start_over(server, cache, monkeypatch, capsys):
    server.files["/blob"] = BLOB
    a = Asset("blob", server.url + "/blob", "blob.bin", "g", sha256=SHA)
    _table(monkeypatch, a)
    part, meta = cache / "blob.bin.part", cache / "blob.bin.part.json"
    cache.mkdir()

    part.write_bytes(b"x" * 100)                        # no record of where it came from
    fetch(progress=False)
    assert "does not match" in capsys.readouterr().out and server.requests[-1]["range"] is None
    assert (cache / "blob.bin").read_bytes() == BLOB

    (cache / "blob.bin").unlink()                       # right URL and validator, wrong bytes
    part.write_bytes(b"x" * 100)
    meta.write_text(json.dumps({"url": a.url, "validator": server.etag, "total": len(BLOB)}))
    fetch(progress=False)
    out = capsys.readouterr().out
    assert "sha256 mismatch after resuming at byte 100" in out
    assert [r["range"] for r in server.requests[-2:]] == ["bytes=100-", None]
    assert (cache / "blob.bin").read_bytes() == BLOB

    (cache / "blob.bin").unlink()                       # a part as long as the file: 416, done
    part.write_bytes(BLOB)
    meta.write_text(json.dumps({"url": a.url, "validator": server.etag, "total": len(BLOB)}))
    fetch(progress=False)
    assert "already complete" in capsys.readouterr().out
    assert (cache / "blob.bin").read_bytes() == BLOB

    (cache / "blob.bin").unlink()                       # a part longer than the file
    part.write_bytes(BLOB + b"extra")
    meta.write_text(json.dumps({"url": a.url, "validator": server.etag, "total": None}))
    fetch(progress=False)
    assert server.requests[-1]["range"] is None and (cache / "blob.bin").read_bytes() == BLOB


def test_progress_bar_and_its_switches(tmp_path, cache, monkeypatch, capsys):
    src = tmp_path / "src.bin"
    src.write_bytes(BLOB)
    _table(monkeypatch, Asset("blob-asset", src.as_uri(), "blob.bin", "g"))
    fetch()
    assert "blob-asset" in capsys.readouterr().err     # tqdm's bar, labelled with the asset
    for how in ("flag", "env"):
        (cache / "blob.bin").unlink()
        if how == "env":
            monkeypatch.setenv("REPRO_NO_PROGRESS", "1")
            assert main(["fetch"]) == 0
        else:
            assert main(["fetch", "--no-progress"]) == 0
        assert "blob-asset" not in capsys.readouterr().err
