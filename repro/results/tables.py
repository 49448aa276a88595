"""Markdown tables from the registry: the paper's number and ours side by side.

`render_tables(rows, records_df, paper_rows)` is a pure function of its inputs (no clock, no
paths, fixed float formats, fixed row order), so `repro tables --check` can compare its output
with the files on disk byte for byte. Rows come in as arguments (repro.rows builds them from gin;
this module never reads gin). Row order is the paper's: ROW_ORDER; a row not listed there goes
to the end of its table, sorted by id.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path

from repro.io import atomic_write_text
from repro.results import tolerances as tol
from repro.results.paper_numbers import DIRECT, LATENT, PAPER_ROWS
from repro.results.records import SELECTION_RULE, select_shown

LCM = "Latent consistency"
DATASETS = {"celebahq": "CelebA-HQ 256", "lsun": "LSUN Church 256", "ffhq": "FFHQ 256"}
DATA_NAMES = {"celebahq256": "celebahq", "lsun_church256": "lsun", "ffhq256": "ffhq"}
T2_TITLES = {"2a": "(a) Components of the proposed framework", "2b": "(b) Diffusion-loss threshold r",
             "2c": "(c) Robust losses", "2d": "(d) Normalization layer"}
T2_ORDER = {"2a": ["ilct", "cauchy", "plus_diff", "plus_ot", "plus_scaled_c", "plus_nsln"],
            "2b": ["r1.0", "r0.6", "r0.25"],
            "2c": ["l2", "e_latentlpips", "huber", "geman_mcclure", "cauchy"],
            "2d": ["gn", "in", "ln", "rms", "nsln"]}


def _refs(pred):
    return [(p.group, p.id) for p in PAPER_ROWS if pred(p)]


def _t1(ds):
    ours = [f"slct/t1/{ds}/{m}" for m in ("ilct/nfe1", "ilct/nfe2", "ours/nfe1", "ours/nfe2")]
    return (_refs(lambda p: p.table == "1" and p.dataset == ds)
            + [(LATENT, f"slct/t1/{ds}/ldm8dagger")] + [(LCM, i) for i in ours])


# file -> (title, metrics, extra columns, {section key: (section title, [(group, id), ...])})
TABLES = {
    "ict_cifar10.md": ("iCT (Song & Dhariwal 2023), CIFAR-10", ("fid",), (), {
        "cifar10": ("", [("", f"ict/cifar10/{m}/nfe{n}") for m in ("ict", "ict-deep")
                         for n in (1, 2)])}),
    "ict_imagenet64.md": ("iCT (Song & Dhariwal 2023), ImageNet 64x64",
                          ("fid", "precision", "recall"), (), {
        "imagenet64": ("", _refs(lambda p: p.table == "imagenet64")
                       + [(DIRECT, f"ict/imagenet64/{m}/nfe{n}") for m in ("ict", "ict-deep")
                          for n in (1, 2)])}),
    "slct_table1.md": ("sLCT (Dao et al. 2025) Table 1, 256x256 via 32x32x4 latents",
                       ("fid", "recall"), ("epochs", "batch"),
                       {ds: (DATASETS[ds], _t1(ds)) for ds in DATASETS}),
    "slct_table2.md": ("sLCT (Dao et al. 2025) Table 2, ablations on CelebA-HQ 256 (1 NFE, epoch 1400)",
                       ("fid", "recall"), (), {
        t: (T2_TITLES[t], [("", f"slct/t{t}/{n}") for n in T2_ORDER[t]]) for t in T2_ORDER}),
    "demo.md": ("Demo rows (CPU-sized; no paper numbers)", None, (), {
        "demo": ("", [("", f"demo/digits/nfe{n}") for n in (1, 2)])}),
}

ROW_ORDER = [i for _, _, _, secs in TABLES.values() for _, ents in secs.values() for _, i in ents]


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


def _place(claim, data_name, row_id):
    """(file, section key) a row belongs to, from its claim; None if no table shows it."""
    paper, table = str(claim.get("paper", "")).lower(), str(claim.get("table", ""))
    if paper == "ict" and table in ("cifar10", "imagenet64"):
        return f"ict_{table}.md", table
    if paper == "slct" and table == "1":
        ds = DATA_NAMES.get(data_name) or (row_id.split("/") + ["", "", ""])[2]
        return ("slct_table1.md", ds) if ds in DATASETS else None
    if paper == "slct" and table in T2_ORDER:
        return "slct_table2.md", table
    if paper == "demo":
        return "demo.md", "demo"
    return None


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
                     intended=row.get("intended")), row.get("data")
    claim = dataclasses.asdict(row.claim)
    ev = row.eval
    intended = {"metric": ev.metric, "mode": ev.fid_mode, "reference": ev.reference,
                "num_samples": ev.num_samples, "gen_format": ev.gen_format, "seed": ev.seed,
                "precision_recall": ev.precision_recall}
    notes = claim.get("notes", "") + ("" if claim.get("confirmed", True) else
                                      " [paper number UNCONFIRMED]")
    return _Info(id=row.id, label=claim["label"], nfe=claim["nfe"], claim=claim,
                 notes=notes.strip(), epochs=_epochs(row.train.epochs),
                 batch=row.train.batch_size, training_key=row.training_key,
                 intended=intended), row.data.name


def _v(rec, key):
    if rec is None:
        return None
    v = rec.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _f(v, digits, sign=False):
    return "" if v is None else f"{v:{'+' if sign else ''}.{digits}f}"


def _cell(s):
    return "" if s is None else str(s).replace("|", "\\|").replace("\n", " ")


def _flags(info, rec):
    """Why a shown result may not be comparable to the row's current recipe."""
    out = []
    key = _v(rec, "training_key")
    if info.training_key and key and key != info.training_key:
        out.append(f"recipe changed since this result (training key {key} -> {info.training_key})")
    n, want = _v(rec, "protocol.num_samples"), (info.intended or {}).get("num_samples")
    if n is not None and want is not None and int(n) != int(want):
        out.append(f"{int(n)} samples (the row asks {int(want)})")
    return out


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
            parts.append(f"{name}={int(v) if isinstance(v, float) and v.is_integer() else v}")
    return ", ".join(parts)


def _render_file(title, metrics, extra, sections, placed, shown, demo_metrics):
    out = [f"# {title}", ""]
    used, intended = {}, {}
    for skey, (stitle, entries) in sections.items():
        infos = placed.get(skey, {})
        order = [(g, i) for g, i in entries if i in infos or i in placed["__paper__"]]
        listed = {i for _, i in entries}
        order += [("", i) for i in sorted(infos) if i not in listed]
        if not order:
            continue
        cols = demo_metrics if metrics is None else metrics
        has_group = any(g for g, _ in order)
        head = (["Group"] if has_group else []) + ["Method", "NFE"]
        for m in cols:
            lab = tol.metric(m).label or m
            head += [lab] if metrics is None else [f"{lab} paper", f"{lab} ours", f"{lab} Δ",
                                                   f"{lab} status"]
        head += [e.capitalize() for e in extra] + ["GPU-h", "Result date", "Notes"]
        body = []
        for group, rid in order:
            info = infos.get(rid) or placed["__paper__"][rid]
            rec = shown.get(rid)
            line = ([group] if has_group else []) + [info.label, info.nfe]
            for m in cols:
                md = tol.metric(m)
                paper, ours = info.claim.get(m), _v(rec, f"ours.{m}")
                if metrics is None:
                    line.append("pending" if rec is None else _f(ours, md.digits) or "—")
                elif info.kind == "paper":
                    line += [_f(paper, 2) or "–", "paper only", "", ""]
                elif rec is None:
                    line += [_f(paper, 2) or "–", "pending", "", "pending"]
                else:
                    st = tol.status(paper, ours, m)
                    line += [_f(paper, 2) or "–", _f(ours, md.digits) or "—",
                             _f(None if paper is None or ours is None else ours - paper,
                                md.digits, sign=True),
                             "" if paper is None and ours is None else st]
            line += [info.epochs if e == "epochs" else info.batch for e in extra]
            line += [_f(_v(rec, "training.gpu_hours"), 1), (_v(rec, "date") or "")[:10],
                     "; ".join(([info.notes] if info.notes else []) + _flags(info, rec))]
            body.append([_cell(c) for c in line])
            if info.kind == "ours":
                (used if rec is not None else intended).setdefault(
                    _protocol(rec, "protocol.") if rec is not None else
                    _protocol(info.intended or {}), []).append(rid)
        from tabulate import tabulate
        if stitle:
            out += [f"## {stitle}", ""]
        out += [tabulate(body, headers=head, tablefmt="github", disable_numparse=True), ""]
    out += _footnote(metrics, used, intended)
    return "\n".join(out).rstrip("\n") + "\n"


def _footnote(metrics, used, intended):
    lines = ["Generated by `repro tables` from the result records under `results/`; do not edit.",
             f"Selection: {SELECTION_RULE}."]
    if metrics is not None:
        bands = "; ".join(f"{tol.metric(m).label}: {tol.metric(m).describe()}" for m in metrics)
        lines += [f"Status (repro/tolerances.py): ours vs paper within {bands}. "
                  f"'within tolerance (better)' = better than the paper by more than that "
                  f"(counts as reproduced). Δ = ours − paper.",
                  "'paper only': printed by the paper, not reproduced here "
                  "(repro/paper_rows.py). 'pending': no result record yet."]
    lines.append("GPU-h: GPU-hours of the training run (rows sharing a training key share one).")
    for what, groups in (("Protocol of the shown results", used),
                         ("Intended protocol (pending rows)", intended)):
        for proto, ids in sorted(groups.items()):
            lines.append(f"{what}: {proto or 'not recorded'} ({', '.join(ids)}).")
    return ["", *(f"- {x}" for x in lines)]


def render_tables(rows, records_df, paper_rows=PAPER_ROWS) -> dict:
    """{file name: markdown} for every table in TABLES (a table with no rows still renders,
    so `--check` notices when rows disappear)."""
    shown_df = select_shown(records_df)
    shown = {} if shown_df is None or len(shown_df) == 0 else {
        r["row"]: r for r in shown_df.to_dict("records")}
    placed = {f: {"__paper__": {}} for f in TABLES}
    for p in paper_rows:
        f = "ict_imagenet64.md" if p.paper == "iCT" else "slct_table1.md"
        placed[f]["__paper__"][p.id] = _Info(
            id=p.id, label=p.method, nfe=p.nfe, kind="paper", notes=p.notes, epochs=p.epochs,
            batch=p.batch, claim={"fid": p.fid, "precision": p.precision, "recall": p.recall})
    for row in rows:
        info, data_name = _info(row)
        where = _place(info.claim, data_name, info.id)
        if where:
            placed[where[0]].setdefault(where[1], {})[info.id] = info
    out = {}
    for fname, (title, metrics, extra, sections) in TABLES.items():
        demo_metrics = None
        if metrics is None:   # demo: show whatever the shown records hold under `ours`
            ids = {i for s in placed[fname] if s != "__paper__" for i in placed[fname][s]}
            demo_metrics = sorted({k[5:] for i in ids if i in shown for k in shown[i]
                                   if k.startswith("ours.") and _v(shown[i], k) is not None}
                                  | {info.intended["metric"] for s, infos in placed[fname].items()
                                     if s != "__paper__" for info in infos.values()
                                     if (info.intended or {}).get("metric")})
        out[fname] = _render_file(title, metrics, extra, sections, placed[fname], shown,
                                  demo_metrics)
    return out


def check_tables(rendered: dict, out_dir) -> list:
    """Unified diffs (one string per stale or missing file); empty when all are fresh."""
    diffs = []
    for name, text in sorted(rendered.items()):
        path = Path(out_dir) / name
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if old != text:
            diffs.append("".join(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True),
                fromfile=f"{path} (on disk{'' if path.is_file() else ', missing'})",
                tofile=f"{path} (from the registry)")))
    return diffs


def write_tables(rendered: dict, out_dir) -> list:
    """Write the tables of `rendered` (render_tables' output) that changed, atomically; returns
    their paths."""
    changed = []
    for name, text in sorted(rendered.items()):
        path = Path(out_dir) / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
            changed.append(path)
    return changed


def render_registry(root=None, with_records=False):
    """(render_tables output, root) for the registry at `root` and every gin row; with
    `with_records`, the loaded records (load_records' DataFrame) come third."""
    import importlib

    from repro.results.records import load_records, tables_root

    root = tables_root(root)
    # by module name, so that a test can stand in a repro.rows of its own (sys.modules)
    rows = importlib.import_module("repro.rows").all_rows()
    records = load_records(root)
    rendered = render_tables(rows, records, PAPER_ROWS)
    return (rendered, root, records) if with_records else (rendered, root)
