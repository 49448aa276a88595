"""Every paper row exists, carries the papers' printed numbers, and shares training as designed."""
import os
import re
from pathlib import Path

import pytest

from helpers.paper_claims import CLAIMS, SHARED
from repro.rows import all_row_ids, expand, load_row

ROOT = Path(__file__).resolve().parent.parent
# Optional: a folder with the sLCT paper's text as `slct-paper.md` (arXiv 2502.01441v2, HTML
# saved as text) turns on the cross-check against the paper itself.
PAPERS_DIR = os.environ.get("REPRO_PAPERS_DIR")


def test_every_spec_row_exists():
    ids = set(all_row_ids())
    missing = set(CLAIMS) - ids
    assert not missing, f"rows missing from gin/: {sorted(missing)}"
    toy = {i for i in ids if i.startswith("toy/")}     # mirrors of paper rows: tests/test_toy_rows.py
    extra = ids - set(CLAIMS) - {"demo/digits/nfe1", "demo/digits/nfe2"} - toy
    assert not extra, f"rows without a typed claim: {sorted(extra)}"
    assert (len(ids - toy), len(toy)) == (44, 20)


@pytest.mark.parametrize("row_id", sorted(CLAIMS))
def test_claim_equals_paper(row_id):
    fid, precision, recall = CLAIMS[row_id]
    c = load_row(row_id).claim
    assert (c.fid, c.precision, c.recall) == (fid, precision, recall)


def test_unconfirmed_claims_are_marked():
    for row_id in ("ict/cifar10/ict/nfe1", "ict/cifar10/ict/nfe2"):
        assert load_row(row_id).claim.confirmed is False
    assert load_row("ict/cifar10/ict-deep/nfe1").claim.confirmed is True


def _table_file(claim) -> str:
    if claim.paper == "iCT":
        return f"ict_{claim.table}.md"
    return "slct_table1.md" if claim.table == "1" else "slct_table2.md"


def _md_rows(path: Path):
    """Each body line of the markdown tables in `path` as {header: cell}."""
    header = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            yield dict(zip(header, cells))


def _same(cell, value) -> bool:
    if value is None:
        return cell in ("", "–", "-")
    try:
        return abs(float(cell) - value) < 1e-9
    except ValueError:
        return False


@pytest.mark.parametrize("row_id", sorted(CLAIMS))
def test_committed_tables_print_the_paper_numbers(row_id):
    """The rendered tables users read show, in the paper columns, the numbers typed above."""
    fid, precision, recall = CLAIMS[row_id]
    c = load_row(row_id).claim
    path = ROOT / "tables" / _table_file(c)
    lines = [r for r in _md_rows(path) if r.get("Method") == c.label and r.get("NFE") == str(c.nfe)]
    assert lines, f"{path}: no line for {c.label!r} at NFE {c.nfe}"
    want = {"FID paper": fid, "Prec. paper": precision, "Recall paper": recall}
    assert any(all(_same(r[k], v) for k, v in want.items() if k in r) for r in lines), \
        f"{path}: {c.label!r} NFE {c.nfe} does not show FID/precision/recall {fid}/{precision}/{recall}"


@pytest.mark.skipif(not PAPERS_DIR, reason="set REPRO_PAPERS_DIR to a folder holding slct-paper.md "
                                           "(the sLCT paper's text) to cross-check the numbers against it")
def test_slct_numbers_appear_in_the_paper_tables():
    text = (Path(PAPERS_DIR) / "slct-paper.md").read_text(encoding="utf-8")
    tables = "\n".join(line for line in text.splitlines() if "FID" in line and "Recall" in line)
    for row_id, (fid, _, recall) in CLAIMS.items():
        if not row_id.startswith("slct/"):
            continue
        assert f"{fid:.2f}" in tables, (row_id, fid)
        if recall is not None:
            assert re.search(rf"{fid:.2f}\s*-?\s*{recall:.2f}", tables) or f"{recall:.2f}" in tables


def test_shared_training_keys():
    keys = {}
    for group in SHARED:
        ks = {load_row(r).training_key for r in group}
        assert len(ks) == 1, f"{group} should share one training key, got {ks}"
        keys[group[0]] = ks.pop()
    assert len(set(keys.values())) == len(SHARED), "different groups must not share a key"
    all_keys = {load_row(i).training_key for i in all_row_ids() if not i.startswith("toy/")}
    assert len(all_keys) == 27  # 26 paper trainings + the demo


def test_evaluation_only_change_keeps_the_key():
    a = load_row("slct/t2c/cauchy")
    b = load_row("slct/t2c/cauchy", overrides=["EvalSpec.num_samples = 10", "EvalSpec.sigmas = (80.0, 0.7434)",
                                               "EvalSpec.nfe = 2", "Claim.nfe = 2"])
    c = load_row("slct/t2c/cauchy", overrides=["LossSpec.diff_r = 0.3"])
    assert a.training_key == b.training_key != c.training_key


def test_expand_globs():
    assert expand(["slct/t2d/*"]) == ["slct/t2d/gn", "slct/t2d/in", "slct/t2d/ln", "slct/t2d/nsln", "slct/t2d/rms"]
    assert expand(["demo/digits"]) == ["demo/digits/nfe1", "demo/digits/nfe2"]
