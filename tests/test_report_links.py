"""Tables link each shown result's report; `repro tables --check` fails on a link that goes nowhere."""
import pytest

from repro.cli import main
from repro.rows import load_row
from report_helpers import fake_record, fake_run


@pytest.fixture
def where(tmp_path, monkeypatch):
    runs, tables = tmp_path / "runs", tmp_path / "tables"
    monkeypatch.setenv("REPRO_RUNS", str(runs))
    monkeypatch.setenv("REPRO_TABLES", str(tables))
    return runs, tables


def _demo_line(tables, needle):
    return next(ln for ln in (tables / "demo.md").read_text().splitlines() if needle in ln)


def test_tables_link_reports_and_check_them(where, capsys):
    runs, tables = where
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    fake_record(row, tables)
    assert main(["tables"]) == 0
    assert "Report" not in (tables / "demo.md").read_text()      # no page yet: no column
    assert "have no report page to link: `repro report demo/digits/nfe1`" in capsys.readouterr().out
    assert main(["report", "demo/digits/nfe1"]) == 0
    assert main(["tables", "--check"]) == 1                        # the page now exists: link it
    assert main(["tables"]) == 0 and main(["tables", "--check"]) == 0
    assert "[report](reports/demo/digits/nfe1/index.md)" in _demo_line(tables, "1 step")
    assert "[report]" not in _demo_line(tables, "2 steps")         # pending: nothing to link
    assert (tables / "reports/demo/digits/nfe1/index.md").is_file()
    # a page removed under a committed table: --check names the link
    (tables / "reports/demo/digits/nfe1/index.md").unlink()
    capsys.readouterr()
    assert main(["tables", "--check"]) == 1
    out = capsys.readouterr().out
    assert "links reports/demo/digits/nfe1/index.md, which does not exist" in out


def test_a_hidden_result_is_not_linked(where):
    runs, tables = where
    row = load_row("demo/digits/nfe1")
    fake_run(runs, row)
    fake_record(row, tables, dirty=True)
    assert main(["report", "demo/digits/nfe1"]) == 0
    assert not (tables / "reports").exists()
    assert main(["tables"]) == 0
    assert "[report]" not in (tables / "demo.md").read_text()


@pytest.mark.slow
def test_a_published_run_draws_its_page_and_the_table_links_it(where, monkeypatch, capsys):
    from repro.results import provenance

    runs, tables = where
    monkeypatch.setattr(provenance, "git_state", lambda path=None: {"commit": "c" * 40, "dirty": False})
    assert main(["run", "demo/digits/nfe1", "--steps", "4", "--num", "50", "--no-progress",
                 "--set", "TrainSpec.batch_size=16", "--set", "ModelSpec.model_channels=16",
                 "--set", "RuntimeSpec.eval_every=2", "--set", "RuntimeSpec.eval_num=20"]) == 0
    out = capsys.readouterr().out
    page = tables / "reports" / "demo" / "digits" / "nfe1"
    assert f"wrote the report {page}" in out
    text = (page / "index.md").read_text()
    assert "matches the record (step 4" in text and "20 samples every 2 steps" in text
    assert "[report](reports/demo/digits/nfe1/index.md)" in (tables / "demo.md").read_text()
    assert main(["tables", "--check"]) == 0
