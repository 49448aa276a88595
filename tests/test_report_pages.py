"""`repro report`: pages from a run and a record made by hand (no training)."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from repro.rows import load_row
from report_helpers import fake_record, fake_run


@pytest.fixture
def where(tmp_path, monkeypatch):
    runs, tables = tmp_path / "runs", tmp_path / "tables"
    monkeypatch.setenv("REPRO_RUNS", str(runs))
    monkeypatch.setenv("REPRO_TABLES", str(tables))
    return runs, tables


def _links(text, kind):
    pat = r'(?:src|href)="([^"]+)"' if kind == "html" else r"\]\(([^)]+)\)"
    return [x for x in re.findall(pat, text) if not x.startswith(("http:", "https:", "#"))]


def _assert_links_resolve(page):
    for kind in ("html", "md"):
        p = page.with_suffix(f".{kind}")
        for href in _links(p.read_text(), kind):
            assert (p.parent / href).exists(), f"{p}: link {href} goes nowhere"


def test_row_page_from_a_run(where):
    from repro.report.build import row_page

    runs, tables = where
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    w = row_page(row)
    assert w.html.parent == runs / row.training_key / "report" / "demo__digits__nfe1"
    assert (w.html.parent / "metric.svg").is_file()     # beside the run: SVG too
    html, md = w.html.read_text(), w.md.read_text()
    for text in (html, md):
        # the curves, both grids with captions, the warning, the recipe, the unconfirmed/switch parts
        assert "metric.png" in text and "training.png" in text
        assert "demo/digits/nfe1: NFE 1" in text and "demo/digits/nfe2: NFE 2" in text
        assert "loss spike" in text
        assert "No result record yet" in text
        assert "adaptive_c.coeffs" in text
        assert "860 at step 0, 560 at step 200" in text
    _assert_links_resolve(w.html)
    # both pages show the same images
    assert sorted(set(_links(html, "html")) - {"metric.svg", "training.svg"}) == \
        sorted(set(_links(md, "md")) - {"metric.svg", "training.svg"})
    assert (w.html.parent / "grid-demo__digits__nfe2.png").is_file()


def test_row_page_of_a_registry_record(where):
    from repro.report.build import row_page

    runs, tables = where
    row = load_row("demo/digits/nfe2")
    fake_run(runs, row)
    rec = fake_record(row, tables)
    w = row_page(row)
    assert w.html.parent == tables / "reports" / "demo" / "digits" / "nfe2"
    assert not list(w.html.parent.glob("*.svg"))         # committed with the tables: PNG only
    text = w.md.read_text()
    assert "the tables show it" in text
    assert "matches the record (step 200" in text
    assert "final evaluation" not in text or "560" in text
    assert os.path.relpath(rec, w.md.parent).replace(os.sep, "/") in text
    _assert_links_resolve(w.html)


def test_a_different_checkpoint_is_called_out(where):
    from repro.report.build import row_page

    runs, tables = where
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    fake_record(row, tables, sha="cd" * 32)
    assert "DIFFERS from the record" in row_page(row).md.read_text()


def test_hidden_record_and_missing_run(where):
    from repro.report.build import row_page

    runs, tables = where
    row = load_row("demo/digits/nfe1")
    assert row_page(row) is None                 # no run, no record: nothing to report
    fake_record(row, tables, dirty=True)
    assert row_page(row) is None                 # a record the tables hide, and no run here
    fake_run(runs, row)
    w = row_page(row)                            # its page goes beside the run, not under tables/
    assert w.md.parent == runs / row.training_key / "report" / "demo__digits__nfe1"
    assert "do NOT show it" in w.md.read_text() and not (tables / "reports").exists()
    shutil.rmtree(runs)
    fake_record(row, tables, steps=200)          # now a clean one, and still no run here
    w = row_page(row)
    assert w.md.parent == tables / "reports" / "demo" / "digits" / "nfe1"
    text = w.md.read_text()
    assert "the tables show it" in text and "not on this machine" in text
    assert row_page(row).md.read_text() == text  # nothing drawn to lose: rewritten alike
    (w.md.parent / "metric.png").write_bytes(b"drawn where the run was")
    kept = row_page(row)
    assert "kept the page" in kept.notes[0]      # would drop curves a run dir once gave it
    assert (w.md.parent / "metric.png").read_bytes() == b"drawn where the run was"
    row_page(row, force=True)
    assert not (w.md.parent / "metric.png").exists()


def test_table_page_links_row_pages(where):
    from repro.cli import main

    runs, tables = where
    nfe1, nfe2 = load_row("demo/digits/nfe1"), load_row("demo/digits/nfe2")
    fake_run(runs, nfe1)
    fake_record(nfe1, tables)
    assert main(["report", "demo/digits", "--no-svg"]) == 0
    page = tables / "reports" / "demo" / "index.md"
    text = page.read_text()
    assert "[report](digits/nfe1/index.md)" in text
    assert "table.png" in text and not list(page.parent.glob("*.svg"))
    _assert_links_resolve(page.with_suffix(".html"))
    # nfe2 has no record: its page lies beside the run, and the table says pending
    assert (runs / nfe2.training_key / "report" / "demo__digits__nfe2" / "index.html").is_file()
    assert "pending" in text


def test_unknown_target_is_one_line(where, capsys):
    from repro.cli import main

    assert main(["report", "demo/digitz"]) == 2
    assert "unknown row 'demo/digitz'" in capsys.readouterr().err


def test_report_never_imports_torch(where):
    runs, tables = where
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    fake_record(row, tables)
    code = textwrap.dedent("""
        import sys
        from repro.cli import main
        rc = main(["report", "demo"])
        print(rc, "torch" in sys.modules, file=sys.stderr)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "0 False", r.stderr


def test_run_found_where_the_record_says(where, tmp_path):
    """A run made under another runs root is found through the checkpoint path in the record."""
    from repro.report.build import row_page

    runs, tables = where
    row = load_row("demo/digits/nfe1")
    elsewhere = fake_run(tmp_path / "elsewhere", row)
    rec_path = fake_record(row, tables)
    rec = json.loads(rec_path.read_text())
    rec["checkpoint"]["path"] = str(elsewhere / "ckpt" / "step-0000200.pt")
    rec_path.write_text(json.dumps(rec))
    text = row_page(row).md.read_text()
    assert "matches the record (step 200" in text and "loss spike" in text
