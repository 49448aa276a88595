"""Results: the records one evaluation writes (records.py; their schema in schema.py, their
provenance in provenance.py, which of them the tables show in selection.py), the one
evaluate-and-record path every runner takes (evaluate.py), `repro verify` (verify.py), the
tolerances that say whether a number reproduces the paper (tolerances.py), the numbers the
papers print for other methods (paper_numbers.py) and the tables rendered from all of them
(tables.py).

Imports nothing: `repro tables` and `repro list` load neither torch nor pandas until they read
records.
"""
