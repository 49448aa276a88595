"""Tolerances: one place, direction-aware, and the row status `repro list` shows."""
import pandas as pd
import pytest

from repro.results import tolerances as tol
from repro.specs import Claim, DataSpec, Row

from helpers.specs import recipe


@pytest.mark.parametrize("paper, ours, metric, expected", [
    (7.27, None, "fid", tol.NO_RESULT),
    (None, 8.1, "fid", tol.NO_CLAIM),
    (7.27, 7.90, "fid", tol.WITHIN),             # +0.63 <= 0.727
    (7.27, 7.27 * 1.1, "fid", tol.WITHIN),       # exactly on the band's edge
    (7.27, 8.10, "fid", tol.OUTSIDE),            # worse by 0.83 > 0.727
    (7.27, 6.00, "fid", tol.WITHIN_BETTER),      # better by more than the band
    (0.50, 0.485, "recall", tol.WITHIN),
    (0.50, 0.47, "recall", tol.OUTSIDE),         # lower recall is worse
    (0.50, 0.55, "recall", tol.WITHIN_BETTER),
    (0.70, 0.65, "precision", tol.OUTSIDE),
    (None, 0.01, "w2_pixels", tol.NO_CLAIM),
])
def test_status(paper, ours, metric, expected):
    assert tol.status(paper, ours, metric) == expected


def test_declared_tolerances():
    assert tol.METRICS["fid"].better == "lower" and tol.METRICS["fid"].tolerance(4.0) == pytest.approx(0.4)
    assert tol.METRICS["recall"].tolerance(0.5) == pytest.approx(0.02)
    assert tol.METRICS["precision"].better == "higher"
    assert tol.metric("something_new").better == "lower"     # undeclared names get a default


def test_agrees():
    assert tol.agrees(7.27, 7.30, "fid") and not tol.agrees(7.27, 7.40, "fid")
    assert tol.agrees(0.500, 0.504, "recall") and not tol.agrees(0.50, 0.51, "recall")
    assert not tol.agrees(7.27, None, "fid")


def _row(**claim):
    claim = {"paper": "sLCT", "table": "2c", "label": "Cauchy", "nfe": 1, "fid": 7.27,
             "recall": 0.50, **claim}
    return Row(id="slct/t2c/cauchy", claim=Claim(**claim), data=DataSpec("celebahq256", 256),
               **recipe())


def _df(*recs):
    # clean provenance: only such records are shown (repro.results.selection.SELECTION_RULE)
    return pd.DataFrame([{"row": "slct/t2c/cauchy", "path": f"p{i}", "git.commit": "a" * 40,
                          "git.dirty": False, **r} for i, r in enumerate(recs)])


def test_row_status():
    row = _row()
    assert tol.row_status(row, pd.DataFrame(columns=["row", "date", "path"])) == tol.PENDING
    assert tol.row_status(row, _df({"date": "1", "ours.fid": 7.4, "ours.recall": 0.49})) == tol.WITHIN
    # the latest record counts, not the best one
    df = _df({"date": "2", "ours.fid": 9.0, "ours.recall": 0.49},
             {"date": "1", "ours.fid": 7.4, "ours.recall": 0.49})
    assert tol.row_status(row, df) == tol.OUTSIDE
    # a newer record from uncommitted code does not change what the row's status reports
    df = _df({"date": "2", "ours.fid": 9.0, "ours.recall": 0.49, "git.dirty": True},
             {"date": "1", "ours.fid": 7.4, "ours.recall": 0.49})
    assert tol.row_status(row, df) == tol.WITHIN
    assert tol.row_status(row, _df({"date": "1", "ours.fid": 7.4})) == "within tolerance (recall missing)"
    demo = _row(paper="demo", table="demo", fid=None, recall=None)
    assert tol.row_status(demo, _df({"date": "1", "ours.w2_pixels": 0.1})) == tol.DONE
