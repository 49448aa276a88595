"""Which records the tables show (SELECTION_RULE): a record is shown only when its provenance is
clean (`hidden_reason` is None) and it is not a smoke run; of a row's shown records, the latest.
Works on one record (nested) or on load_records' flattened DataFrame; pandas and numpy are
loaded inside the functions that need them.
"""
from __future__ import annotations

SELECTION_RULE = ("a record is shown only when its provenance is clean (git commit known, no "
                  "uncommitted changes outside tables/ when it was written) and it is not a smoke "
                  "run; of a row's shown records, the latest by record date (UTC; ties broken by "
                  "file name)")

def _get(record, dotted):
    """`dotted` from a nested record or from load_records' flattened row; None when absent."""
    if dotted in record:
        return record[dotted]
    cur = record
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _flag(v):
    """True / False for a JSON bool (also as numpy's bool out of a DataFrame), else None."""
    if isinstance(v, bool):
        return v
    import numpy as np

    return bool(v) if isinstance(v, np.bool_) else None


def is_smoke(record) -> bool:
    return _flag(_get(record, "row_args.smoke")) is True


def hidden_reason(record) -> str | None:
    """Why the tables never show `record` (nested, or flattened as load_records gives it);
    None when SELECTION_RULE lets it be shown."""
    if is_smoke(record):
        return "a smoke run; smoke records never enter tables"
    commit = _get(record, "git.commit")
    if not isinstance(commit, str) or not commit:
        return "git commit unknown (not run from a git checkout)"
    dirty = _flag(_get(record, "git.dirty"))
    if dirty is not False:
        what = "had uncommitted changes" if dirty else "may have had uncommitted changes"
        return (f"the checkout {what} outside tables/ when it was written (commit {commit[:10]}); "
                f"commit them and run again to publish")
    return None


_NOT_RECIPE = ("Claim.", "RuntimeSpec.", "repro.recipe.unconfirmed")


def recipe_bindings(operative: str) -> set:
    """The bindings of an operative config that decide what is trained and how it is scored:
    all but the claim (placement, notes) and the runtime (how to run, not what)."""
    lines, cur = set(), ""
    for line in (operative or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t)]}" and cur:         # continuation of a multi-line value
            cur += " " + line.strip()
            continue
        if cur:
            lines.add(cur)
        cur = line.strip()
    if cur:
        lines.add(cur)
    return {b for b in lines if not b.startswith(_NOT_RECIPE) and not b.startswith("import ")}


def provenance_problems(record, row=None) -> list:
    """What keeps a shown record from being fully checkable: no checkpoint, or a recipe that
    differs from the row's today. (Dirty or unknown commits are never shown: hidden_reason.)"""
    out = []
    if not _get(record, "checkpoint.sha256"):
        out.append("no checkpoint recorded (cannot be verified)")
    if row is not None:
        then = _get(record, "operative_config")
        # a seed repeat (`repro run --seeds/--eval-seeds`) is the row's recipe with other seeds;
        # a parameter the record's config lacks entirely was added later, with the old behaviour
        # as its default (how this project adds settings), so it is no change of this result
        old = recipe_bindings(then if isinstance(then, str) else "")
        known = {b.split(" = ", 1)[0] for b in old}
        diff = sorted(b for b in old ^ recipe_bindings(row.operative_config)
                      if not b.startswith(("TrainSpec.seed", "EvalSpec.seed"))
                      and (b in old or b.split(" = ", 1)[0] in known))
        if isinstance(then, str) and diff:
            out.append(f"the row's recipe changed since this result ({len(diff)} binding"
                       f"{'s' if len(diff) != 1 else ''} differ)")
    return out


def shown_mask(df):
    """Boolean Series over load_records' rows: may SELECTION_RULE show this record?"""
    import pandas as pd

    def col(name):
        return df[name] if name in df.columns else pd.Series(None, index=df.index, dtype=object)

    smoke = col("row_args.smoke").map(lambda v: _flag(v) is True)
    commit = col("git.commit").map(lambda v: isinstance(v, str) and bool(v))
    clean = col("git.dirty").map(lambda v: _flag(v) is False)
    return (~smoke) & commit & clean


def smoke_paths(records_df) -> list:
    """Paths of smoke records found in the registry (they must not be there), sorted."""
    if records_df is None or len(records_df) == 0 or "row_args.smoke" not in records_df.columns:
        return []
    hit = records_df["row_args.smoke"].map(lambda v: _flag(v) is True)
    return sorted(records_df.loc[hit, "path"])


def select_shown(records_df):
    """One record per row id, by SELECTION_RULE: among the records with clean provenance that
    are not smoke runs, the latest date, then the last file name. A row whose records are all
    hidden has none."""
    if records_df is None or len(records_df) == 0:
        return records_df
    df = records_df[shown_mask(records_df)].sort_values(["row", "date", "path"], kind="stable")
    return df.drop_duplicates("row", keep="last").reset_index(drop=True)
