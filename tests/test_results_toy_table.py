"""tables/toy.md: toy mean ± std beside the paper's number, and the ordering verdicts."""
import dataclasses

from repro.results import records as registry
from repro.results import tables
from repro.results.toy_table import AGREES, DISAGREES, UNRESOLVED, compare
from repro.specs import Claim, DataSpec, Row

from helpers.specs import recipe

SEC = "(a) Components of the proposed framework"


def _row(row_id, label, fid, order, seed=0):
    claim = Claim("toy", "slct2a", label, 1, fid=fid, source="sLCT Table 2a", section=SEC, order=order,
                  mirrors=row_id.replace("toy/", ""))
    return Row(id=row_id, claim=claim, data=DataSpec("digits", 8, channels=1),
               **recipe(train=dict(batch_size=64, total_steps=400, seed=seed), eval=dict(metric="w2_pixels")))


ROWS = [_row("toy/slct/t2a/a", "A", 10.0, 1), _row("toy/slct/t2a/b", "B", 20.0, 2),
        _row("toy/slct/t2a/c", "C", 30.0, 3), _row("toy/slct/t2a/d", "D", 40.0, 4),
        _row("toy/slct/t2a/e", "E", 50.0, 5)]
W2 = {"A": [100.0, 101.0, 102.0],        # paper best, toy best
      "B": [150.0, 151.0, 152.0],        # resolved above A: agrees
      "C": [120.0, 160.0, 200.0],        # spread too wide against B: within spread
      "D": [90.0, 91.0, 92.0]}           # paper worse than C, toy resolved better than C: disagrees
CLEAN = {"commit": "a" * 40, "dirty": False}


def _registry(tmp_path):
    by_label = {r.claim.label: r for r in ROWS}
    for label, values in W2.items():
        for seed, v in enumerate(values):
            row = dataclasses.replace(by_label[label], train=dataclasses.replace(by_label[label].train, seed=seed))
            rec = registry.make_record(
                row, {"w2_pixels": v, "w2_pixels_untrained": 860.0 + seed, "w2_pixels_heldout_baseline": 365.0},
                {"impl": "pot"}, None, {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 400},
                hardware={"device": "cpu", "count": 1},
                extra={"date": f"2026-01-0{seed + 1}T00:00:00.000000Z", "git": CLEAN,
                       "checkpoint": {"path": "c.pt", "sha256": "0" * 64},
                       "row_args": {"overrides": [f"TrainSpec.seed={seed}"], "smoke": False}})
            registry.write_record(rec, tmp_path)
    return registry.load_records(tmp_path)


def _cells(md, label):
    hits = [ln for ln in md.splitlines() if ln.startswith(f"| {label} ")]
    assert len(hits) == 1, (label, hits)
    return [c.strip() for c in hits[0].strip().strip("|").split("|")]


def test_compare_verdicts():
    s = lambda m, sd, n=3: {"mean": m, "std": sd, "n": n}      # noqa: E731
    assert compare(s(100, 1), s(110, 1))[0] == AGREES
    assert compare(s(110, 1), s(100, 1))[0] == DISAGREES
    verdict, d, band = compare(s(100, 7), s(110, 7))
    assert verdict == UNRESOLVED and d == 10 and abs(band - 2 * (98 / 3) ** 0.5) < 1e-12
    assert compare(s(100, 0, n=1), s(200, 0, n=1))[0] == UNRESOLVED     # one seed has no spread


def test_toy_table(tmp_path):
    md = tables.render_tables(ROWS, _registry(tmp_path), paper_rows=())["toy.md"]
    assert "## sLCT Table 2a (a) Components of the proposed framework" in md
    a, b, c, d, e = (_cells(md, x) for x in "ABCDE")
    # label, NFE, mirrors, paper FID, paper rank, toy, toy rank, verdict, notes
    assert a[2:7] == ["slct/t2a/a", "10.00", "1", "101.0 ± 1.0", "2"] and a[7] == "—"
    assert b[5:7] == ["151.0 ± 1.0", "3"] and b[7].startswith("agrees (vs A: Δ +50.0")
    assert c[7].startswith("within spread (vs B:")
    assert d[6] == "1" and d[7].startswith("disagrees (vs C: Δ -69.0")
    assert e[5] == "pending" and e[7] == "pending"
    assert "3 records (3 training seeds)" in a[8]
    assert "Neighbours in the paper's order: 1 agree, 1 disagree, 1 within spread." in md
    # ordered pairs: A<B agrees, A<C agrees, A<D disagrees, B<C within, B<D disagrees, C<D disagrees
    assert "All 6 pairs the paper orders (its better row first): 5 resolved" in md
    assert "A over D disagrees (Δ -10.0, band 1.6)" in md
    assert "the untrained networks score 861.0 and 500 real training digits 365.0" in md
    # the rendering is a pure function of its inputs
    assert md == tables.render_tables(ROWS[::-1], registry.load_records(tmp_path), paper_rows=())["toy.md"]
