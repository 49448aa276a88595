"""Tables from records the tests write: values in place, paper order, --check stale/fresh."""
import dataclasses
import json
import random
import sys
import types

import pytest

from repro.cli import main
from repro.results import records as registry
from repro.results import selection
from repro.results import tables
from repro.results.paper_numbers import PAPER_ROWS
from repro.specs import Claim, DataSpec, Row

from helpers.specs import recipe


def _row(row_id, paper, table, label, nfe, data="celebahq256", metric="fid", **nums):
    return Row(id=row_id, claim=Claim(paper, table, label, nfe, **nums), data=DataSpec(data, 256),
               **recipe(train=dict(batch_size=128, epochs=1400), eval=dict(metric=metric)))


T2A = "(a) Components of the proposed framework"
ROWS = [
    _row("ict/imagenet64/ict/nfe1", "iCT", "imagenet64", "iCT", 1, data="imagenet64",
         fid=4.02, precision=0.70, recall=0.63, group="Direct generation", order=1),
    _row("slct/t1/celebahq/ours/nfe1", "sLCT", "1", "Ours", 1, fid=7.27, recall=0.50,
         section="CelebA-HQ 256", group="Latent consistency", order=13),
    _row("slct/t1/celebahq/ldm8dagger", "sLCT", "1", "LDM-8†", 250, fid=8.85,
         section="CelebA-HQ 256", group="Latent diffusion", order=10),
    _row("slct/t2a/plus_nsln", "sLCT", "2a", "+ NsLN", 1, fid=7.27, recall=0.50, section=T2A, order=15),
    _row("slct/t2a/ilct", "sLCT", "2a", "iLCT", 1, fid=37.15, recall=0.12, section=T2A, order=10),
    _row("demo/digits/nfe1", "demo", "demo", "CT on digits", 1, data="digits", metric="w2_pixels",
         order=1),
]
BY_ID = {r.id: r for r in ROWS}


CLEAN = {"commit": "a" * 40, "dirty": False}


def _record(row_id, ours, date="2025-06-01T00:00:00.000000Z", gpu_hours=12.5, git=CLEAN, smoke=False):
    # provenance pinned: the checkout running the tests may be dirty, and only clean records show
    return registry.make_record(BY_ID[row_id], ours, {"impl": "clean-fid"}, None,
                                {"wall_s": 1.0, "gpu_hours": gpu_hours, "steps": 10},
                                hardware={"device": "test", "count": 1},
                                extra={"date": date, "git": git,
                                       "checkpoint": {"path": "ckpt/step-0000010.pt", "sha256": "0" * 64},
                                       "row_args": {"overrides": [], "smoke": smoke}})


def _write(root, row_id, ours, **kw):
    return registry.write_record(_record(row_id, ours, **kw), root)


def _line(md, *needles):
    hits = [ln for ln in md.splitlines() if all(n in ln for n in needles)]
    assert len(hits) == 1, (needles, hits)
    return [c.strip() for c in hits[0].strip().strip("|").split("|")]


@pytest.fixture
def root(tmp_path):
    _write(tmp_path, "ict/imagenet64/ict/nfe1", {"fid": 4.20, "precision": 0.65, "recall": 0.64})
    _write(tmp_path, "slct/t1/celebahq/ours/nfe1", {"fid": 9.99, "recall": 0.40},
           date="2025-01-01T00:00:00.000000Z")                          # older: not shown
    _write(tmp_path, "slct/t1/celebahq/ours/nfe1", {"fid": 6.00, "recall": 0.51})
    _write(tmp_path, "slct/t1/celebahq/ldm8dagger", {"fid": 9.10})
    _write(tmp_path, "demo/digits/nfe1", {"w2_pixels": 0.1234, "w2_pixels_untrained": 0.9})
    return tmp_path


def test_values_in_place(root):
    out = tables.render_tables(ROWS, registry.load_records(root), PAPER_ROWS)
    assert set(out) == {"ict_cifar10.md", "ict_imagenet64.md", "slct_table1.md",
                        "slct_table2.md", "demo.md", "toy.md"}
    c = _line(out["ict_imagenet64.md"], "| iCT ")
    assert c[1:] == ["iCT", "1", "4.02", "4.20", "+0.18", "within tolerance",
                     "0.70", "0.650", "-0.050", "outside tolerance",
                     "0.63", "0.640", "+0.010", "within tolerance", "12.5", "2025-06-01", ""]
    c = _line(out["slct_table1.md"], "| Ours ")
    assert c[3:11] == ["7.27", "6.00", "-1.27", "within tolerance (better)",
                       "0.50", "0.510", "+0.010", "within tolerance"]
    assert c[11:13] == ["1.4K", "128"]
    c = _line(out["slct_table1.md"], "LDM-8†")
    assert c[3:11] == ["8.85", "9.10", "+0.25", "within tolerance", "–", "—", "", ""]
    assert _line(out["slct_table2.md"], "| iLCT")[2:] [:4] == ["37.15", "pending", "", "pending"]
    c = _line(out["ict_imagenet64.md"], "| PD* ", "| 2 ")
    assert c[3:7] == ["8.95", "paper only", "", ""]
    assert "Selection: " + selection.SELECTION_RULE in out["slct_table1.md"]
    assert "impl=clean-fid" in out["slct_table1.md"]


def test_lsun_duplicate_note_and_groups(root):
    out = tables.render_tables(ROWS, registry.load_records(root), PAPER_ROWS)["slct_table1.md"]
    lsun = out.split("## LSUN Church 256")[1].split("## FFHQ 256")[0]
    assert "copy-paste" in _line(lsun, "WaveDiff")[-1]
    assert _line(lsun, "WaveDiff")[0] == "Pixel diffusion"


def test_demo_table_shows_ours_only(root):
    md = tables.render_tables(ROWS, registry.load_records(root), PAPER_ROWS)["demo.md"]
    head = _line(md, "| Method")
    assert head[2:4] == ["W2 (pixels)", "w2_pixels_untrained"] and "paper" not in " ".join(head)
    assert _line(md, "CT on digits")[2:4] == ["0.1234", "0.9000"]


def test_paper_order(root):
    out = tables.render_tables(ROWS, registry.load_records(root), PAPER_ROWS)
    t1 = out["slct_table1.md"]
    assert t1.index("WaveDiff") < t1.index("DIMSUM") < t1.index("LDM-8†") < t1.index("| Ours")
    t2 = out["slct_table2.md"]
    assert t2.index("| iLCT") < t2.index("+ NsLN")
    im = out["ict_imagenet64.md"]
    assert im.index("Diff-Instruct") < im.index("CT (LPIPS)") < im.index("| iCT ")


def test_a_new_row_is_placed_by_its_claim_alone(root):
    """A row file is all a new row needs: its claim's section, group and order place it."""
    new = _row("slct/t2a/plus_new", "sLCT", "2a", "+ New", 1, fid=7.0, recall=0.5, section=T2A,
               order=12)
    t2 = tables.render_tables(ROWS + [new], registry.load_records(root), PAPER_ROWS)["slct_table2.md"]
    assert t2.index("| iLCT") < t2.index("+ New") < t2.index("+ NsLN")
    other = _row("slct/t2e/x", "sLCT", "2e", "X", 1, fid=7.0, section="(e) New block", order=50)
    t2 = tables.render_tables(ROWS + [other], registry.load_records(root), PAPER_ROWS)["slct_table2.md"]
    assert "(e) New block" not in t2        # no table shows Claim.table '2e' until TABLES lists it
    t1 = tables.render_tables(ROWS + [dataclasses.replace(other, claim=dataclasses.replace(
        other.claim, table="1"))], registry.load_records(root), PAPER_ROWS)["slct_table1.md"]
    assert t1.index("## FFHQ 256") < t1.index("## (e) New block")


def test_paper_rows_share_the_sections_of_the_gin_rows():
    from repro.rows import all_rows

    ours = {(tables.table_file(r.claim.paper, r.claim.table), r.claim.section) for r in all_rows()}
    for p in PAPER_ROWS:
        assert (tables.table_file(p.paper, p.table), p.section) in ours, p.id


def test_deterministic(root):
    df = registry.load_records(root)
    a = tables.render_tables(ROWS, df, PAPER_ROWS)
    shuffled = ROWS[:]
    random.Random(0).shuffle(shuffled)
    b = tables.render_tables(shuffled, df.sample(frac=1, random_state=0), PAPER_ROWS)
    assert a == b


@pytest.fixture
def fake_rows(monkeypatch):
    mod = types.ModuleType("repro.rows")
    mod.all_rows = lambda smoke=False: list(ROWS)
    monkeypatch.setitem(sys.modules, "repro.rows", mod)


def test_check_stale_and_fresh(root, fake_rows, capsys):
    args = ["tables", "--root", str(root)]
    assert main(args + ["--check"]) == 1                       # nothing rendered yet
    assert not list(root.glob("*.md"))                         # --check writes nothing
    assert main(args) == 0
    assert (root / "slct_table1.md").is_file()
    capsys.readouterr()
    assert main(args + ["--check"]) == 0
    before = (root / "ict_imagenet64.md").read_text()
    _write(root, "ict/imagenet64/ict/nfe1", {"fid": 5.55, "precision": 0.7, "recall": 0.6},
           date="2025-07-01T00:00:00.000000Z")
    assert main(args + ["--check"]) == 1
    diff = capsys.readouterr().out
    assert "+| Direct generation" in diff and "5.55" in diff and "-| Direct generation" in diff
    assert (root / "ict_imagenet64.md").read_text() == before  # still not written
    assert main(args) == 0 and main(args + ["--check"]) == 0


def test_check_invalid_record_exits_2_naming_it(root, fake_rows, capsys):
    bad = root / "results" / "slct" / "t2a" / "ilct" / "20250101T000000000000Z-x.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    assert main(["tables", "--root", str(root), "--check"]) == 2
    assert str(bad) in capsys.readouterr().err


def test_dirty_record_is_kept_but_not_shown(root, fake_rows, capsys):
    args = ["tables", "--root", str(root)]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in root.glob("*.md")}
    path = _write(root, "slct/t1/celebahq/ours/nfe1", {"fid": 1.11, "recall": 0.9},
                  date="2025-09-01T00:00:00.000000Z", git={"commit": "b" * 40, "dirty": True})
    df = registry.load_records(root)
    assert str(path) in set(df["path"])
    out = tables.render_tables(ROWS, df, PAPER_ROWS)["slct_table1.md"]
    assert _line(out, "| Ours ")[3:5] == ["7.27", "6.00"]      # the previous clean record stays
    capsys.readouterr()
    assert main(args + ["--check"]) == 0                        # so the tables are not stale
    assert "1 record(s) kept in the registry but not shown" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in root.glob("*.md")} == before


def _plant_smoke(root):
    """A smoke record put into the registry by hand (write_record refuses one)."""
    rec = _record("demo/digits/nfe1", {"w2_pixels": 590.8}, date="2025-09-01T00:00:00.000000Z",
                  smoke=True)
    path = registry.record_path(rec, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


def test_smoke_record_in_registry_fails_check_naming_it(root, fake_rows, capsys):
    args = ["tables", "--root", str(root)]
    assert main(args) == 0
    before = (root / "demo.md").read_text()
    smoke = _plant_smoke(root)
    capsys.readouterr()
    assert main(args + ["--check"]) == 2
    err = capsys.readouterr().err
    assert f"error: {smoke}: a smoke record" in err
    # without --check the tables skip it, say so, and are written without it
    assert main(args) == 0
    assert f"warning: {smoke}" in capsys.readouterr().err
    assert (root / "demo.md").read_text() == before and "590.8" not in before



def _seeded(row_id, ours, train_seed, eval_seed, date, commit="a" * 40):
    """A record of `row_id` as `repro run --seeds/--eval-seeds` writes it: the seeds are gin
    overrides, so they show in the operative config, the record's seed and protocol.seed."""
    row = BY_ID[row_id]
    op = row.operative_config + f"\nTrainSpec.seed = {train_seed}\nEvalSpec.seed = {eval_seed}\n"
    row = dataclasses.replace(row, operative_config=op,
                              train=dataclasses.replace(row.train, seed=train_seed))
    rec = registry.make_record(row, ours, {"impl": "clean-fid", "seed": eval_seed}, None,
                               {"wall_s": 1.0, "gpu_hours": 1.0, "steps": 10},
                               hardware={"device": "test", "count": 1},
                               extra={"date": date, "git": {"commit": commit, "dirty": False},
                                      "training_key": f"key{train_seed}",
                                      "checkpoint": {"path": "c.pt", "sha256": "0" * 64},
                                      "row_args": {"overrides": [f"TrainSpec.seed={train_seed}",
                                                                 f"EvalSpec.seed={eval_seed}"],
                                                   "smoke": False}})
    return rec


def test_seed_repeats_show_mean_std_and_spread_status(tmp_path):
    import statistics

    vals = {(0, 42): 7.0, (0, 43): 7.4, (1, 42): 8.6, (1, 43): 8.2}
    for n, ((t, e), v) in enumerate(sorted(vals.items())):
        registry.write_record(_seeded("slct/t2a/ilct", {"fid": v, "recall": 0.5}, t, e,
                                      f"2025-06-01T00:00:0{n}.000000Z"), tmp_path)
    # another commit: never pooled with these
    registry.write_record(_seeded("slct/t2a/ilct", {"fid": 99.0}, 2, 42, "2025-05-01T00:00:00.000000Z",
                                  commit="b" * 40), tmp_path)
    md = tables.render_tables(ROWS, registry.load_records(tmp_path), PAPER_ROWS)["slct_table2.md"]
    c = _line(md, "| iLCT")
    mean, sd = statistics.mean(vals.values()), statistics.stdev(vals.values())
    assert c[3] == f"{mean:.2f} ± {sd:.2f}"
    assert c[5] == "within tolerance (better)"      # seed overrides alone are not a recipe change
    assert "mean ± std over 4 records (2 training seeds × 2 sampling seeds" in c[-1]
    assert "not clean" not in c[-1] and "recipe changed" not in c[-1]
    assert c[-3] == "2.0"          # GPU-h: the 2 training runs (1.0 each), each counted once
    assert "Seeds: " + tables.sp.GROUP_RULE in md
    assert "max(2 std, the fixed tolerance)" in md


def test_spread_status_band_is_the_larger_of_2std_and_tolerance():
    from repro.results import tolerances as tol

    # paper 10.0, fixed band 1.0; our mean 11.5: outside the band unless 2 std covers it
    assert tol.status_spread(10.0, 11.5, 0.5, "fid") == tol.OUTSIDE
    assert tol.status_spread(10.0, 11.5, 0.8, "fid") == tol.WITHIN
    assert tol.status_spread(10.0, 10.9, 0.0, "fid") == tol.WITHIN


def test_same_seed_rerun_is_not_pooled_and_best_of_is_named(tmp_path):
    from repro.results import spread

    for n, v in enumerate((7.0, 7.2)):        # the same seed pair twice: the later replaces it
        registry.write_record(_seeded("slct/t2a/ilct", {"fid": v}, 0, 42,
                                      f"2025-06-01T00:00:0{n}.000000Z"), tmp_path)
    md = tables.render_tables(ROWS, registry.load_records(tmp_path), PAPER_ROWS)["slct_table2.md"]
    assert _line(md, "| iLCT")[3] == "7.20" and "Seeds:" not in md
    registry.write_record(_seeded("slct/t2a/ilct", {"fid": 6.0}, 0, 43,
                                  "2025-06-01T00:00:05.000000Z"), tmp_path)
    row = BY_ID["slct/t2a/ilct"]
    best = dataclasses.replace(row, claim=dataclasses.replace(row.claim, notes="best of 3 sampling seeds"))
    rows = [best if r is row else r for r in ROWS]
    md = tables.render_tables(rows, registry.load_records(tmp_path), PAPER_ROWS)["slct_table2.md"]
    assert "best of our 2 (the paper reports the best of 3): 6.00" in _line(md, "| iLCT")[-1]
    assert spread.best_of({"notes": "one number"}) is None
