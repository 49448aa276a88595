"""What a row's page and a table's page share: where the page's files go (`PAGE`), what was
written (`Written`), how values and links are printed, writing index.html and index.md from one
list of blocks, and clearing images an earlier page left behind.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from repro.io import atomic_write_text
from repro.report import blocks as B

PAGE = "index"


@dataclass
class Written:
    row_id: str                      # or the table's name
    html: Path
    md: Path
    notes: list                      # one line each: what the page could not show


def relpath(target, start_dir) -> str:
    return os.path.relpath(Path(target).resolve(), Path(start_dir).resolve()).replace(os.sep, "/")


def fmt(v, digits=4) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.{digits}g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x, digits) for x in v) if v else "—"
    return str(v)


def tolerances():
    """repro.results.tolerances, imported when a page first needs it."""
    from repro.results import tolerances

    return tolerances


def write_page(page: B.Page, out_dir: Path) -> tuple[Path, Path]:
    html_path, md_path = out_dir / f"{PAGE}.html", out_dir / f"{PAGE}.md"
    atomic_write_text(html_path, B.to_html(page))
    atomic_write_text(md_path, B.to_markdown(page))
    return html_path, md_path


def remove_stale(page: B.Page, out_dir: Path) -> None:
    """Images an earlier report left in the folder that this page does not show (a grid of a
    row since removed, an SVG that grew too large): the folder holds exactly what it links."""
    keep = {x for b in page.blocks if isinstance(b, B.Figure) for x in (b.src, b.svg) if x}
    for p in Path(out_dir).iterdir():
        if p.is_file() and p.suffix in (".png", ".svg") and p.name not in keep:
            p.unlink()

