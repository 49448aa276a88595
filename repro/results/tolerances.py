"""When does our number reproduce the paper's? Declared here, and only here.

A metric has a direction (`better`) and a tolerance: the larger of `abs_tol` and
`rel_tol * |paper value|`. `status()` compares one number with its claim:

- 'no result'                 we have no number yet
- 'no claim'                  the paper prints none ('–' in the table, or a demo metric)
- 'within tolerance'          |ours - paper| <= tolerance
- 'within tolerance (better)' ours beats the paper by more than the tolerance. This counts as
                              reproduced (the claim "the method reaches X" holds), but it is
                              marked because a large gain usually means the protocol differs.
- 'outside tolerance'         ours is worse than the paper by more than the tolerance

`verify_*` tolerances are tighter: `repro verify` re-evaluates the same checkpoint with the same
seeds, so only kernel non-determinism (bf16, TF32, cuDNN choices, another GPU model) is left.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

NO_RESULT = "no result"
NO_CLAIM = "no claim"
WITHIN = "within tolerance"
WITHIN_BETTER = "within tolerance (better)"
OUTSIDE = "outside tolerance"
PENDING = "no result"        # row_status only: no record at all
DONE = "done"                # row_status only: a record, but nothing to compare with


@dataclass(frozen=True)
class Metric:
    better: str                      # 'lower' | 'higher'
    rel_tol: float = 0.0             # fraction of the paper's value
    abs_tol: float = 0.0             # in the metric's units
    label: str = ""                  # column header
    digits: int = 2                  # decimals shown for our value and the delta
    verify_rel_tol: float = 0.01     # repro verify: recorded vs re-evaluated
    verify_abs_tol: float = 0.0

    def tolerance(self, paper_value: float) -> float:
        return max(self.abs_tol, self.rel_tol * abs(paper_value))

    def verify_tolerance(self, recorded: float) -> float:
        return max(self.verify_abs_tol, self.verify_rel_tol * abs(recorded))

    def describe(self) -> str:
        parts = []
        if self.rel_tol:
            parts.append(f"{self.rel_tol:.0%} of the paper's value")
        if self.abs_tol:
            parts.append(f"{self.abs_tol:g} absolute")
        return " or ".join(parts) + (" (whichever is larger)" if len(parts) > 1 else "")


# FID moves by a few percent between FID implementations, reference sets and seeds
# (clean-fid vs pytorch-fid vs the ADM evaluator), hence a relative band. Precision and recall are
# fractions in [0, 1] whose run-to-run spread on 50K samples is ~0.01, hence an absolute band.
METRICS = {
    "fid": Metric(better="lower", rel_tol=0.10, label="FID", digits=2,
                  verify_rel_tol=0.01),
    "precision": Metric(better="higher", abs_tol=0.02, label="Prec.", digits=3,
                        verify_rel_tol=0.0, verify_abs_tol=0.005),
    "recall": Metric(better="higher", abs_tol=0.02, label="Recall", digits=3,
                     verify_rel_tol=0.0, verify_abs_tol=0.005),
    # demo metrics (distances between sample and data distributions): no paper claims, so only
    # the direction and the verify band matter. The demo scores uint8 images on a CPU, so a
    # re-evaluation of the same checkpoint moves them far less than 0.1 % (bit-identical on one
    # machine), while one sampling seed to the next moves W2 by ~0.3 % (BENCHMARKS.md): a band of
    # 0.1 % lets `repro verify` catch an edited number that 1 % would let through.
    "w2_pixels": Metric(better="lower", rel_tol=0.10, label="W2 (pixels)", digits=4,
                        verify_rel_tol=0.001),
    "fd_pixels": Metric(better="lower", rel_tol=0.10, label="FD (pixels)", digits=4,
                        verify_rel_tol=0.001),
}

# Claims hold only these (repro.specs.Claim); every other name in `ours` is shown without a status.
CLAIM_METRICS = ("fid", "precision", "recall")

_DEFAULT = Metric(better="lower", rel_tol=0.10, digits=4)


def metric(name: str) -> Metric:
    """The declared metric, or a neutral default (lower is better, 10%) for a name not declared."""
    return METRICS.get(name, Metric(**{**_DEFAULT.__dict__, "label": name}))


def _num(x) -> Optional[float]:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def status(claim_value, ours_value, name: str) -> str:
    """Compare our number with the paper's for metric `name` (see the module docstring)."""
    return status_spread(claim_value, ours_value, None, name)


def status_spread(claim_value, mean, std, name: str) -> str:
    """`status` for a mean over seed repeats (repro/results/spread.py): the band is the larger of
    2 std (our measured noise) and the fixed tolerance, so a paper's number inside our own
    seed-to-seed spread is not called a failure, and a tiny spread never tightens the band."""
    ours, paper, sd = _num(mean), _num(claim_value), _num(std)
    if ours is None:
        return NO_RESULT
    if paper is None:
        return NO_CLAIM
    m = metric(name)
    delta = ours - paper
    # 1e-9 absorbs float noise at the band's edge (7.27 * 1.1 is 7.997000000000001)
    if abs(delta) <= max(2.0 * (sd or 0.0), m.tolerance(paper)) + 1e-9:
        return WITHIN
    gain = -delta if m.better == "lower" else delta
    return WITHIN_BETTER if gain > 0 else OUTSIDE


def agrees(recorded, reevaluated, name: str) -> bool:
    """`repro verify`: does a re-evaluation reproduce the recorded number?"""
    a, b = _num(recorded), _num(reevaluated)
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= metric(name).verify_tolerance(a) + 1e-9


def claim_values(claim) -> dict:
    """{metric: value} from a Claim or a claim dict, only the metrics a claim can hold."""
    get = claim.get if isinstance(claim, dict) else (lambda k: getattr(claim, k, None))
    return {k: get(k) for k in CLAIM_METRICS}


def combine(statuses) -> str:
    """One word for a row from its per-metric statuses: the worst one wins."""
    statuses = [s for s in statuses if s not in (NO_CLAIM, NO_RESULT)]
    if not statuses:
        return DONE
    if OUTSIDE in statuses:
        return OUTSIDE
    if all(s == WITHIN_BETTER for s in statuses):
        return WITHIN_BETTER
    return WITHIN


def row_status(row, records_df) -> str:
    """Status of a row for `repro list`: 'no result' without a record; otherwise the combined
    status of the record the tables show (repro.results.selection.SELECTION_RULE)."""
    from repro.results.selection import select_shown

    if records_df is None or len(records_df) == 0:
        return PENDING
    shown = select_shown(records_df[records_df["row"] == row.id])
    if len(shown) == 0:
        return PENDING
    rec = shown.iloc[0]
    claim = claim_values(row.claim)
    out, missing = [], []
    for name, paper in claim.items():
        col = f"ours.{name}"
        ours = rec[col] if col in rec.index else None
        out.append(status(paper, ours, name))
        if out[-1] == NO_RESULT and _num(paper) is not None:
            missing.append(name)
    word = combine(out)
    # a claimed metric the record lacks must not read as reproduced
    return f"{word} ({', '.join(missing)} missing)" if missing else word
