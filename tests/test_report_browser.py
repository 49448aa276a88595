"""A generated report opened in a real headless Chromium over the DevTools protocol: every image
loads (naturalWidth > 0) and the console stays free of errors. A page with a broken image is
opened first, so the checks are seen to catch what they look for. The screenshot is kept under
pytest's tmp dir (its path is printed).

Chromium comes from Debian's `chromium` package; as root with apt-get the fixture installs it
when /usr/bin/chromium is missing, otherwise the test skips and says why.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from report_helpers import fake_record, fake_run

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--hide-scrollbars"]


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} missing and {'not root' if os.geteuid() else 'no apt-get'} to "
                        f"install Debian's chromium package")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env, timeout=900)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, capture_output=True,
                       env=env, timeout=1800)
    pytest.importorskip("websocket", reason="websocket-client (the [test] extra) drives the DevTools protocol")
    return CHROMIUM


class DevTools:
    """One headless Chromium and one page, driven over its DevTools websocket."""

    def __init__(self, binary, profile: Path):
        import websocket

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port (rc {self.proc.poll()})")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def open(self, url):
        """Navigate, wait for the load event and a settled network; returns the events seen."""
        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: no load event in 60 s")
            self.events.append(json.loads(self.ws.recv()))
        self.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 300))", awaitPromise=True)
        return list(self.events)

    def images(self):
        js = "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        return self.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"]

    def screenshot(self, path: Path):
        # measure at a small viewport: after a taller one the page would report that height
        self.call("Emulation.setDeviceMetricsOverride", width=1100, height=600, deviceScaleFactor=1,
                  mobile=False)
        h = self.call("Runtime.evaluate", expression="document.documentElement.scrollHeight",
                      returnByValue=True)["result"]["value"]
        self.call("Emulation.setDeviceMetricsOverride", width=1100, height=int(h), deviceScaleFactor=1,
                  mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _errors(events):
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(("console", [a.get("value", a.get("description")) for a in p.get("args", [])]))
        elif m == "Runtime.exceptionThrown":
            out.append(("exception", p.get("exceptionDetails", {}).get("text")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(("log", p["entry"].get("text"), p["entry"].get("url")))
    return out


@pytest.fixture
def served(tmp_path):
    """A local http.server on 127.0.0.1 over tmp_path; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_report_page_in_chromium(chromium, served, tmp_path, monkeypatch):
    from repro.report.build import row_page
    from repro.report.table import table_page
    from repro.rows import all_rows, load_row

    runs, tables = tmp_path / "runs", tmp_path / "tables"
    monkeypatch.setenv("REPRO_RUNS", str(runs))
    monkeypatch.setenv("REPRO_TABLES", str(tables))
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    fake_record(row, tables)
    page = row_page(row)
    table = table_page("demo", all_rows(), {row.id: page})

    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>b</title></head><body>'
                      '<img src="missing.png" alt="x"><script>console.error("boom")</script></body></html>')
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        # the checks catch a broken page: an image that does not load, an error on the console
        events = browser.open(f"{served}/broken.html")
        assert [w for _, _, w in browser.images()] == [0]
        assert any(kind == "console" for kind, *_ in _errors(events))

        for html_path, shot in ((page.html, "report-row.png"), (table.html, "report-table.png")):
            url = f"{served}/{html_path.relative_to(tmp_path).as_posix()}"
            events = browser.open(url)
            imgs = browser.images()
            assert len(imgs) >= (4 if html_path == page.html else 1), imgs
            bad = [src for src, complete, w in imgs if not complete or w <= 0]
            assert not bad, f"{url}: images that did not load: {bad}"
            assert not _errors(events), f"{url}: {_errors(events)}"
            path = tmp_path / shot
            browser.screenshot(path)
            assert path.stat().st_size > 10_000
            print(f"\nscreenshot of {url}: {path}")
    finally:
        browser.close()
