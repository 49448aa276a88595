"""Every row's training key is pinned: a refactor that changed one would make its records and run
directories stale without anyone noticing. Change tests/data/training_keys.json only together with
a deliberate recipe change, and say so in the commit."""
import json
from pathlib import Path

from repro.rows import all_row_ids, load_row

PINNED = json.loads((Path(__file__).parent / "data" / "training_keys.json").read_text())


def test_all_training_keys_unchanged():
    now = {r: {"training_key": load_row(r).training_key} for r in all_row_ids()}
    assert set(now) == set(PINNED)
    changed = {r: (PINNED[r]["training_key"], now[r]["training_key"]) for r in now if now[r] != PINNED[r]}
    assert not changed, changed
    paper = {v["training_key"] for r, v in now.items() if not r.startswith("toy/")}
    toy = {v["training_key"] for r, v in now.items() if r.startswith("toy/")}
    assert (len(paper), len(toy), len(paper & toy)) == (27, 15, 0)
