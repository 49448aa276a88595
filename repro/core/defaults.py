"""Defaults of the core that tools state without loading torch (`repro show`, the records)."""

# ot_coupling's solver. Both solvers are exact; 'lsa' is the faster at batch 128-256
# (benchmarks/ot_coupling.py), LCT used 'emd'.
OT_SOLVER = "lsa"
