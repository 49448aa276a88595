"""Measured noise: which records of a row are repeats of one measurement that differ only in
their seeds, and what their spread is.

GROUP_RULE says which records the tables pool: the shown record (SELECTION_RULE) and every other
record that could be shown (clean provenance, not smoke) of the same row, written at the same git
commit, with the same recipe except `TrainSpec.seed` and `EvalSpec.seed` (the operative config's
bindings compared as repro.results.selection.recipe_bindings reads them, claim and runtime left
out) and the same sample count; of records with the same (training seed, sampling seed) pair only
the latest counts, so a plain re-run is never pooled as if it were a new seed. `repro run ROW --seeds K --eval-seeds J` writes such a group.
A row whose group holds one record renders exactly as it did before groups existed.
"""
from __future__ import annotations

import math
import re

SEED_BINDINGS = ("TrainSpec.seed", "EvalSpec.seed")

GROUP_RULE = ("mean ± std (sample standard deviation) over the shown record and the other clean "
              "records of its row at the same commit whose recipe differs only in TrainSpec.seed "
              "and EvalSpec.seed (same sample count; per seed pair the latest record)")

SPREAD_STATUS_RULE = "status: |mean − paper| within max(2 std, the fixed tolerance)"


def group_key(rec) -> tuple:
    """What must be equal for two records (load_records' flattened rows) to be seed repeats."""
    from repro.results.selection import recipe_bindings

    op = rec.get("operative_config")
    bindings = frozenset(b for b in recipe_bindings(op if isinstance(op, str) else "")
                         if not b.startswith(SEED_BINDINGS))
    n = rec.get("protocol.num_samples")
    return (rec.get("row"), rec.get("git.commit"), bindings,
            None if n is None or (isinstance(n, float) and math.isnan(n)) else int(n))


def seed_groups(records_df, shown: dict) -> dict:
    """{row id: [records]} for each shown record (`shown`: row id -> flattened record): the
    records GROUP_RULE pools with it, the shown one included, in (date, path) order."""
    from repro.results.selection import shown_mask

    if records_df is None or len(records_df) == 0 or not shown:
        return {}
    eligible = records_df[shown_mask(records_df) & records_df["row"].isin(list(shown))]
    by_row: dict = {}
    for rec in eligible.sort_values(["row", "date", "path"], kind="stable").to_dict("records"):
        by_row.setdefault(rec["row"], []).append(rec)
    out = {}
    for rid, rec in shown.items():
        key = group_key(rec)
        latest = {}       # a re-run of the same seed pair replaces it: repeats must differ in seed
        for r in by_row.get(rid, []):
            if group_key(r) == key:
                latest[(r.get("seed"), r.get("protocol.seed"))] = r
        latest[(rec.get("seed"), rec.get("protocol.seed"))] = rec
        out[rid] = sorted(latest.values(), key=lambda r: (r.get("date"), r.get("path")))
    return out


def _num(v):
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def stats(group, name: str):
    """(mean, std, n) of metric `name` over `group`; std is the sample std (0 for n = 1);
    None when no record holds the metric."""
    vals = [v for v in (_num(r.get(f"ours.{name}")) for r in group) if v is not None]
    if not vals:
        return None
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return mean, std, n


def seeds_of(group) -> tuple:
    """(distinct training seeds, distinct sampling seeds) in the group."""
    train = {r.get("seed") for r in group}
    sample = {r.get("protocol.seed") for r in group}
    return len(train), len(sample)


_BEST_OF = re.compile(r"\bbest of (\d+)\b", re.IGNORECASE)


def best_of(claim: dict):
    """K when the paper reports the best of K (sampling) seeds, as its claim's notes or source
    say ('best of 3'); else None."""
    for field in ("notes", "source"):
        m = _BEST_OF.search(str(claim.get(field) or ""))
        if m:
            return int(m.group(1))
    return None


def best(group, name: str, better: str):
    """The best value of `name` over `group` (lowest when lower is better)."""
    vals = [v for v in (_num(r.get(f"ours.{name}")) for r in group) if v is not None]
    if not vals:
        return None
    return min(vals) if better == "lower" else max(vals)
