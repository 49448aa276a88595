"""`repro run --seeds K --eval-seeds J`: one row per (training seed, sampling seed), the seeds as
gin overrides so each record names them and a re-run can re-create it."""
import argparse

from repro.commands.run import seeded_rows


def _args(**kw):
    base = dict(rows=["demo/digits/nfe1"], set=[], smoke=False, seeds=None, eval_seeds=None)
    return argparse.Namespace(**{**base, **kw})


def test_seeds_times_eval_seeds():
    rows = seeded_rows(_args(seeds=2, eval_seeds=3))
    assert len(rows) == 6
    assert [(r.train.seed, r.eval.seed) for r in rows] == [
        (0, 42), (0, 43), (0, 44), (1, 42), (1, 43), (1, 44)]
    # each training seed is its own training key; sampling seeds share their training
    assert len({r.training_key for r in rows}) == 2
    assert rows[4].overrides[-2:] == ("TrainSpec.seed=1", "EvalSpec.seed=43") or \
        list(rows[4].overrides[-2:]) == ["TrainSpec.seed=1", "EvalSpec.seed=43"]


def test_without_seed_flags_the_rows_are_as_given():
    (row,) = seeded_rows(_args())
    assert not row.overrides and row.train.seed == 0 and row.eval.seed == 42
