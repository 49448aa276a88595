"""`repro report`: static pages that show a run instead of asking you to read it.

A row's page (build.row_page) has the in-training metric against the step with the paper's
number and its tolerance band (the demo: the untrained value and the held-out floor), the
training curves (loss, N(k), c, steps/s), the sample grids of every NFE, the warnings the loop
logged, the recipe with its switches and unconfirmed settings, and the record's provenance. A
table's page (table.table_page) puts all its rows on one figure, paper vs ours. Each page is
written twice from one list of blocks (blocks.py): index.html and index.md.

Sits after results and before launch/cli; imports matplotlib (Agg, no pyplot) and never torch.
"""
