"""Rows: gin files under gin/ → `repro.specs.Row` (load.py), the gin registrations
(configurables.py), the recipe summary of `repro show`/`repro list` (summary.py) and the grouping
of rows that train once (group.py).

Imports nothing heavy: gin loads inside `load_row`, torch only when a summary counts parameters.
"""
from repro.rows.group import group_by_training_key
from repro.rows.load import all_row_ids, all_rows, did_you_mean, expand, load_row

__all__ = ["load_row", "all_row_ids", "all_rows", "expand", "did_you_mean", "group_by_training_key"]
