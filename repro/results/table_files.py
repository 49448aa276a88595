"""The tables on disk: compare them with the registry (`repro tables --check`), write the changed
ones, and find report pages; the rendering itself is repro/results/tables.py (pure)."""
from __future__ import annotations

import difflib
from pathlib import Path

from repro.io import atomic_write_text
from repro.results.records import select_shown
from repro.results.tables import OWN_RENDERERS, PAPER_ROWS, REPORTS, TABLES, render_tables, report_link, \
    row_file


def check_tables(rendered: dict, out_dir) -> list:
    """Unified diffs (one string per stale or missing file); empty when all are fresh."""
    diffs = []
    for name, text in sorted(rendered.items()):
        path = Path(out_dir) / name
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if old != text:
            diffs.append("".join(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True),
                fromfile=f"{path} (on disk{'' if path.is_file() else ', missing'})",
                tofile=f"{path} (from the registry)")))
    return diffs


def existing_reports(root, row_ids) -> set:
    """The ids among `row_ids` whose report page lies under `root` (report_link)."""
    return {i for i in row_ids if (Path(root) / report_link(i)).is_file()}


def missing_reports(out_dir, names=None) -> list:
    """(table path, link) for every report link in the tables on disk under `out_dir` (the files
    of TABLES, or `names`) whose page is not there."""
    import re

    out = []
    for name in sorted(names or TABLES):
        path = Path(out_dir) / name
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        for link in re.findall(r"\]\((" + REPORTS + r"/[^)]+)\)", text):
            if not (Path(out_dir) / link).is_file():
                out.append((path, link))
    return out


def write_tables(rendered: dict, out_dir) -> list:
    """Write the tables of `rendered` (render_tables' output) that changed, atomically; returns
    their paths."""
    changed = []
    for name, text in sorted(rendered.items()):
        path = Path(out_dir) / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
            changed.append(path)
    return changed


def render_registry(root=None, with_records=False):
    """(render_tables output, root) for the registry at `root` and every gin row; with
    `with_records`, the loaded records (load_records' DataFrame) come third."""
    import importlib

    from repro.results.records import load_records, tables_root

    root = tables_root(root)
    # by module name, so that a test can stand in a repro.rows of its own (sys.modules)
    rows = importlib.import_module("repro.rows").all_rows()
    records = load_records(root)
    shown = select_shown(records)
    ids = set() if shown is None or len(shown) == 0 else set(shown["row"])
    rendered = render_tables(rows, records, PAPER_ROWS, existing_reports(root, ids))
    # records no table can show (their row has no gin file): --check fails on them
    records.attrs["unknown_rows"] = unknown_row_records(records, rows)
    # rows whose table has no Report column (OWN_RENDERERS): `repro tables` asks for no page
    records.attrs["unlinked_rows"] = {r["id"] if isinstance(r, dict) else r.id for r in rows
                                      if row_file(r) in OWN_RENDERERS}
    return (rendered, root, records) if with_records else (rendered, root)


def unknown_row_records(records_df, rows) -> list:
    """Paths of records whose row id names none of `rows`: no table can show them."""
    if records_df is None or len(records_df) == 0:
        return []
    known = {r["id"] if isinstance(r, dict) else r.id for r in rows}
    return sorted(records_df.loc[~records_df["row"].isin(known), "path"])
