"""Rows that share a training key train once: the one grouping every runner uses."""
from __future__ import annotations

from repro.specs import Row


def group_by_training_key(rows) -> dict[str, list[Row]]:
    """{training key: its rows, in the order given}, keys in order of first appearance; the
    first row of a group is the one that trains (the others share its run dir)."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.training_key, []).append(row)
    return groups
