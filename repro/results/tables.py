"""Markdown tables from the registry: the paper's number and ours side by side.

`render_tables(rows, records_df, paper_rows)` is a pure function of its inputs (no clock, no
paths, fixed float formats, fixed row order), so `repro tables --check` can compare its output
with the files on disk byte for byte. Rows come in as arguments (repro.rows builds them from gin;
this module never reads gin). Each row places itself: its claim's paper and table pick the file
(TABLES), `Claim.section` its section, `Claim.group` the first column, and `Claim.order` its
position; sections follow in the order of their first row. Within a section the paper-only rows
(repro/results/paper_numbers.py, placed the same way) come first, as the paper prints them.
"""
from __future__ import annotations

import dataclasses
import math

from repro.results import tolerances as tol
from repro.results.paper_numbers import PAPER_ROWS
from repro.results import spread as sp
from repro.results.records import SELECTION_RULE, provenance_problems, select_shown
from repro.results.toy_table import render_toy

# file -> (title, metrics (None: whatever the demo records hold), extra columns,
#          (Claim.paper in lower case, the Claim.table values the file shows))
TABLES = {
    "ict_cifar10.md": ("iCT (Song & Dhariwal 2023), CIFAR-10", ("fid",), (),
                       ("ict", ("cifar10",))),
    "ict_imagenet64.md": ("iCT (Song & Dhariwal 2023), ImageNet 64x64",
                          ("fid", "precision", "recall"), (), ("ict", ("imagenet64",))),
    "slct_table1.md": ("sLCT (Dao et al. 2025) Table 1, 256x256 via 32x32x4 latents",
                       ("fid", "recall"), ("epochs", "batch"), ("slct", ("1",))),
    "slct_table2.md": ("sLCT (Dao et al. 2025) Table 2, ablations on CelebA-HQ 256 (1 NFE, epoch 1400)",
                       ("fid", "recall"), (), ("slct", ("2a", "2b", "2c", "2d"))),
    "demo.md": ("Demo rows (CPU-sized; no paper numbers)", None, (), ("demo", ("demo",))),
    # rendered by repro/results/toy_table.py (metrics: the toy's, beside the paper's FID)
    "toy.md": ("Toy ablations: the papers' ablation blocks at CPU scale, beside the paper's numbers",
               ("w2_pixels",), (), ("toy", ("slct2a", "slct2b", "slct2c", "slct2d", "ict"))),
}
# Tables with a layout of their own: renderer(title, placed rows, seed groups, text escaper).
# They have no Report column (a toy row's page would set its W2 against the paper's FID).
OWN_RENDERERS = {"toy.md": render_toy}
_FILE_OF = {(paper, table): f for f, (_, _, _, (paper, tables)) in TABLES.items() for table in tables}


def table_file(paper, table):
    """The file that shows claims of (paper, table); None when no table does."""
    return _FILE_OF.get((str(paper).lower(), str(table)))


@dataclasses.dataclass
class _Info:
    id: str
    label: str
    nfe: int
    claim: dict
    kind: str = "ours"               # 'ours' | 'paper'
    notes: str = ""
    epochs: object = None
    batch: object = None
    training_key: object = None
    intended: dict = None
    section: str = ""
    group: str = ""
    order: int = 0
    printed: int = 0                 # paper rows: position in paper_rows
    row: object = None               # the repro.specs.Row, for the provenance check


def _sort_key(info):
    return (info.order, info.kind != "paper", info.printed, info.id)


def _epochs(n):
    if n is None:
        return None
    return f"{n / 1000:g}K" if n >= 1000 else str(n)


def _info(row):
    """Normalise a repro.specs.Row (or a dict with id, claim and optional extras)."""
    if isinstance(row, dict):
        claim = row["claim"]
        claim = dataclasses.asdict(claim) if dataclasses.is_dataclass(claim) else dict(claim)
        return _Info(id=row["id"], label=claim.get("label", row["id"]), nfe=claim.get("nfe"),
                     claim=claim, notes=claim.get("notes", ""), epochs=_epochs(row.get("epochs")),
                     batch=row.get("batch_size"), training_key=row.get("training_key"),
                     intended=row.get("intended"), section=claim.get("section", ""),
                     group=claim.get("group", ""), order=claim.get("order", 0))
    claim = dataclasses.asdict(row.claim)
    ev = row.eval
    intended = {"metric": ev.metric, "mode": ev.fid_mode, "reference": ev.reference,
                "num_samples": ev.num_samples, "gen_format": ev.gen_format, "seed": ev.seed,
                "precision_recall": ev.precision_recall}
    notes = _text(claim.get("notes", "")) + ("" if claim.get("confirmed", True) else
                                             " [paper number UNCONFIRMED]")
    return _Info(id=row.id, label=claim["label"], nfe=claim["nfe"], claim=claim,
                 notes=notes.strip(), epochs=_epochs(row.train.epochs),
                 batch=row.train.batch_size, training_key=row.training_key,
                 intended=intended, section=claim["section"], group=claim["group"],
                 order=claim["order"], row=row)


def row_file(row):
    """The file that shows a row (a repro.specs.Row or _info's dict form); None when none does."""
    claim = _info(row).claim
    return table_file(claim.get("paper", ""), claim.get("table", ""))


def _v(rec, key):
    if rec is None:
        return None
    v = rec.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _f(v, digits, sign=False):
    return "" if v is None else f"{v:{'+' if sign else ''}.{digits}f}"


_CONTROL = {c: " " for c in range(32)} | {127: " "}
MAX_CELL = 300


def _text(s) -> str:
    """Text from a record or a claim, made inert in markdown: no line breaks (a heading or a
    fake row), no pipes (a fake column), no links, HTML or code spans; bounded in length."""
    t = str(s).translate(_CONTROL)
    if len(t) > MAX_CELL:
        t = t[:MAX_CELL] + "…"
    for ch in "\\`[]<>|":
        t = t.replace(ch, "\\" + ch)
    return t


def _cell(s):
    return "" if s is None else str(s).replace("|", "\\|").replace("\n", " ")


def _flags(info, rec):
    """Why a shown result may not be comparable to the row's current recipe."""
    out = []
    key = _v(rec, "training_key")
    if info.training_key and key and key != info.training_key and not _seeds_only(rec):
        out.append(f"recipe changed since this result (training key {key} -> {info.training_key})")
    n, want = _v(rec, "protocol.num_samples"), (info.intended or {}).get("num_samples")
    if n is not None and want is not None and int(n) != int(want):
        out.append(f"{int(n)} samples (the row asks {int(want)})")
    if rec is not None and info.row is not None:
        out += [f"not clean: {p}" for p in provenance_problems(rec, info.row)]
    return [_text(x) for x in out]


def _seeds_only(rec) -> bool:
    """The record's overrides set only seeds: its training key differs from the row's by the
    seed alone (the recipe itself is compared by provenance_problems)."""
    ov = _v(rec, "row_args.overrides")
    return isinstance(ov, (list, tuple)) and bool(ov) and all(
        str(o).replace(" ", "").startswith(sp.SEED_BINDINGS) for o in ov)


def _protocol(d, prefix=""):
    get = (lambda k: _v(d, prefix + k)) if prefix else (lambda k: d.get(k))
    parts = []
    for k, name in (("metric", "metric"), ("impl", "impl"), ("mode", "mode"),
                    ("reference", "reference"), ("reference_sha256", "sha256"),
                    ("num_samples", "n"), ("gen_format", "gen_format"), ("seed", "seed"),
                    ("extractor", "extractor"), ("precision_recall", "precision/recall")):
        v = get(k)
        if v is None and k in ("reference", "reference_sha256"):   # evaluator's nested form
            v = get("reference.name" if k == "reference" else "reference.hash")
        if k == "mode" and get("metric") not in (None, "fid"):
            continue   # the clean-fid mode means nothing for the demo metrics
        if v not in (None, "", "none"):
            v = str(v)[:12] if k == "reference_sha256" else v
            parts.append(f"{name}={_text(int(v) if isinstance(v, float) and v.is_integer() else v)}")
    return ", ".join(parts)


REPORTS = "reports"           # <tables>/reports/<row id>/index.md: `repro report` writes them


def report_link(row_id: str) -> str:
    """A table's link to a row's report, relative to the table (it works on a code host)."""
    return f"{REPORTS}/{row_id}/index.md"


def _render_file(title, metrics, extra, placed, shown, demo_metrics, reports=frozenset(),
                 groups=None):
    out = [f"# {title}", ""]
    groups = groups or {}
    pooled = False
    linked = any(i.kind == "ours" and i.id in shown and i.id in reports for i in placed)
    used, intended = {}, {}
    sections: dict = {}               # title -> its rows, in order of each section's first row
    for info in sorted(placed, key=_sort_key):
        sections.setdefault(info.section, []).append(info)
    for stitle, infos in sections.items():
        infos.sort(key=lambda i: (i.kind != "paper", i.order, i.printed, i.id))
        cols = demo_metrics if metrics is None else metrics
        has_group = any(i.group for i in infos)
        head = (["Group"] if has_group else []) + ["Method", "NFE"]
        for m in cols:
            lab = tol.metric(m).label or m
            head += [lab] if metrics is None else [f"{lab} paper", f"{lab} ours", f"{lab} Δ",
                                                   f"{lab} status"]
        head += [e.capitalize() for e in extra] + ["GPU-h", "Result date"] + \
            (["Report"] if linked else []) + ["Notes"]
        body = []
        for info in infos:
            rid = info.id
            rec = shown.get(rid)
            group = groups.get(rid) or ([rec] if rec is not None else [])
            many = len(group) > 1          # one record: rendered exactly as before groups existed
            pooled |= many and info.kind == "ours"
            spread_notes = []
            line = ([_text(info.group)] if has_group else []) + [_text(info.label), info.nfe]
            for m in cols:
                md = tol.metric(m)
                paper, ours = info.claim.get(m), _v(rec, f"ours.{m}")
                st_ = sp.stats(group, m) if many and info.kind == "ours" else None
                if st_ is not None:
                    ours = st_[0]
                if metrics is None:
                    line.append("pending" if rec is None else (
                        f"{_f(st_[0], md.digits)} ± {_f(st_[1], md.digits)}" if st_ else
                        _f(ours, md.digits) or "—"))
                elif info.kind == "paper":
                    line += [_f(paper, 2) or "–", "paper only", "", ""]
                elif rec is None:
                    line += [_f(paper, 2) or "–", "pending", "", "pending"]
                else:
                    st = tol.status(paper, ours, m) if st_ is None else \
                        tol.status_spread(paper, st_[0], st_[1], m)
                    if info.row is not None and provenance_problems(rec, info.row):
                        st += " (not clean: see notes)"
                    k = sp.best_of(info.claim) if st_ is not None else None
                    if k is not None:
                        b = sp.best(group, m, md.better)
                        spread_notes.append(f"{md.label or m} best of our {st_[2]} (the paper reports "
                                            f"the best of {k}): {_f(b, md.digits)}")
                    line += [_f(paper, 2) or "–",
                             (f"{_f(st_[0], md.digits)} ± {_f(st_[1], md.digits)}" if st_ else
                              _f(ours, md.digits) or "—"),
                             _f(None if paper is None or ours is None else ours - paper,
                                md.digits, sign=True),
                             "" if paper is None and ours is None else st]
            line += [info.epochs if e == "epochs" else info.batch for e in extra]
            gpu_h = _v(rec, "training.gpu_hours")
            if many and info.kind == "ours":     # each training seed is its own training run
                per_key = {_v(r, "training_key"): _v(r, "training.gpu_hours") for r in group}
                gpu_h = None if any(v is None for v in per_key.values()) else sum(per_key.values())
            line += [_f(gpu_h, 1), (_v(rec, "date") or "")[:10]]
            if linked:
                line.append(f"[report]({report_link(rid)})" if rec is not None and rid in reports else "")
            if many and info.kind == "ours":
                t, e = sp.seeds_of(group)
                spread_notes.insert(0, f"mean ± std over {len(group)} records ({t} training seed"
                                       f"{'s' if t != 1 else ''} × {e} sampling seed{'s' if e != 1 else ''}, "
                                       f"commit {str(_v(rec, 'git.commit') or '')[:10]})")
            line += ["; ".join(([info.notes] if info.notes else []) + [_text(x) for x in spread_notes]
                               + _flags(info, rec))]
            body.append([_cell(c) for c in line])
            if info.kind == "ours":
                (used if rec is not None else intended).setdefault(
                    _protocol(rec, "protocol.") if rec is not None else
                    _protocol(info.intended or {}), []).append(rid)
        from tabulate import tabulate
        if stitle:
            out += [f"## {stitle}", ""]
        out += [tabulate(body, headers=head, tablefmt="github", disable_numparse=True), ""]
    out += _footnote(metrics, used, intended, pooled)
    return "\n".join(out).rstrip("\n") + "\n"


def _footnote(metrics, used, intended, pooled=False):
    lines = ["Generated by `repro tables` from the result records under `results/`; do not edit.",
             f"Selection: {SELECTION_RULE}."]
    if pooled:     # only where a row has seed repeats: tables without them stay byte-identical
        lines.append(f"Seeds: {sp.GROUP_RULE}." + (f" With repeats, the {sp.SPREAD_STATUS_RULE}."
                                                    if metrics is not None else ""))
    if metrics is not None:
        bands = "; ".join(f"{tol.metric(m).label}: {tol.metric(m).describe()}" for m in metrics)
        lines += [f"Status (repro/results/tolerances.py): ours vs paper within {bands}. "
                  f"'within tolerance (better)' = better than the paper by more than that "
                  f"(counts as reproduced). Δ = ours − paper.",
                  "'paper only': printed by the paper, not reproduced here "
                  "(repro/results/paper_numbers.py). 'pending': no result record yet."]
    lines.append("GPU-h: GPU-hours of the training run (rows sharing a training key share one).")
    for what, groups in (("Protocol of the shown results", used),
                         ("Intended protocol (pending rows)", intended)):
        for proto, ids in sorted(groups.items()):
            lines.append(f"{what}: {proto or 'not recorded'} ({', '.join(ids)}).")   # ids: ROW_ID_RE
    return ["", *(f"- {x}" for x in lines)]


def render_tables(rows, records_df, paper_rows=PAPER_ROWS, reports=frozenset()) -> dict:
    """{file name: markdown} for every table in TABLES (a table with no rows still renders,
    so `--check` notices when rows disappear). `reports`: the row ids whose report page exists
    (report_link); a shown result links it, and a table with such a link has a Report column."""
    shown_df = select_shown(records_df)
    shown = {} if shown_df is None or len(shown_df) == 0 else {
        r["row"]: r for r in shown_df.to_dict("records")}
    groups = sp.seed_groups(records_df, shown)
    placed = {f: [] for f in TABLES}
    for n, p in enumerate(paper_rows):
        f = table_file(p.paper, p.table)
        if f:
            placed[f].append(_Info(
                id=p.id, label=p.method, nfe=p.nfe, kind="paper", notes=p.notes, epochs=p.epochs,
                batch=p.batch, claim={"fid": p.fid, "precision": p.precision, "recall": p.recall},
                section=p.section, group=p.group, order=p.order, printed=n))
    for row in rows:
        info = _info(row)
        f = table_file(info.claim.get("paper", ""), info.claim.get("table", ""))
        if f:
            placed[f].append(info)
    out = {}
    for fname, (title, metrics, extra, _) in TABLES.items():
        if fname in OWN_RENDERERS:
            out[fname] = OWN_RENDERERS[fname](title, placed[fname], groups, _text)
            continue
        demo_metrics = None
        if metrics is None:   # demo: show whatever the shown records hold under `ours`
            ours = [i for i in placed[fname] if i.kind == "ours"]
            demo_metrics = sorted({k[5:] for i in ours if i.id in shown for k in shown[i.id]
                                   if k.startswith("ours.") and _v(shown[i.id], k) is not None}
                                  | {i.intended["metric"] for i in ours
                                     if (i.intended or {}).get("metric")})
        out[fname] = _render_file(title, metrics, extra, placed[fname], shown, demo_metrics,
                                  frozenset(reports), groups)
    return out
