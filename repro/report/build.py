"""A row's page: gather (sources.py), draw (plots.py), lay out (blocks.py), write index.html and
index.md side by side with every image they show copied beside them, so the folder can move (and
its links work on a code host). The pages of tables are in table.py, what both share in page.py.

Where a page goes: a row with a result record in the registry gets `<tables>/reports/<row id>/`
(the tables link there); any other row `<run dir>/report/<row>/`.
"""
from __future__ import annotations

from pathlib import Path

from repro.io import ReproError, atomic_write_bytes
from repro.report import blocks as B
from repro.report import plots
from repro.report.page import PAGE, Written, fmt, relpath, remove_stale, tolerances, write_page
from repro.report.sources import RowSource, eval_name, gather, pick_record, registry_records, run_record

# the demo's reference values beside its metric (repro/eval/row.py demo_baselines)
BASELINES = {"_untrained": "untrained network (same init, same protocol)",
             "_heldout_baseline": "held-out real digits vs training digits (the floor)"}


# ------------------------------------------------------------------ small helpers

def _shown_path(p) -> str:
    """A path as the page shows it: relative to the project root when inside it, so committed
    pages name no one's home directory."""
    from repro.paths import project_root

    p = Path(p).resolve()
    root = project_root()
    if root is not None:
        try:
            return str(p.relative_to(Path(root).resolve()))
        except ValueError:
            pass
    return str(p)


def _flatten(d: dict, prefix="") -> list:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _copy(src: Path, dst: Path) -> None:
    if Path(src).resolve() != Path(dst).resolve():
        atomic_write_bytes(dst, Path(src).read_bytes())


# ------------------------------------------------------------------ a row's page

def _results_table(src: RowSource) -> B.Table | None:
    tol = tolerances()
    rec = src.record.record if src.record else None
    if rec is None:
        return None
    claim = tol.claim_values(src.row.claim)
    ours = rec.get("ours") or {}
    rows = []
    names = [*(k for k, v in claim.items() if v is not None), *sorted(ours, key=lambda k: (
        any(k.endswith(s) for s in BASELINES), [k.endswith(s) for s in BASELINES], k))]
    for name in list(dict.fromkeys(names)):
        base = next((name[:-len(s)] for s in BASELINES if name.endswith(s)), None)
        m = tol.metric(base or name)
        paper, mine = claim.get(name), ours.get(name)
        band = "" if paper is None else f"±{m.tolerance(paper):.{m.digits}g} ({m.describe()})"
        delta = "" if paper is None or mine is None else f"{mine - paper:+.{m.digits}f}"
        label = f"{m.label or base}: {BASELINES[name[len(base):]]}" if base else (m.label or name)
        rows.append([label, fmt(paper), "—" if mine is None else f"{mine:.{m.digits}f}",
                     delta, band, "baseline" if base else tol.status(paper, mine, name)])
    return B.Table(["metric", "paper", "ours", "Δ (ours − paper)", "tolerance", "status"], rows)


def _record_state(src: RowSource, tables=None) -> str:
    if src.record is None:
        return "No result record yet (the row has not been evaluated, or was run with --no-record)."
    where = "in the registry" if src.record.in_registry else "beside its run"
    r = src.record.record
    what = (f"training seed {r.get('seed')}, sampling seed {(r.get('protocol') or {}).get('seed')}, "
            f"dated {str(r.get('date', ''))[:19]}")
    n = len(registry_records(src.row.id, tables)) if src.record.in_registry else 1
    more = (f" The registry holds {n} records of this row; this page shows this one (its table "
            f"row may also summarise the others, see the table's notes).") if n > 1 else ""
    if src.record.hidden is None:
        return f"Result record {where} ({what}); the tables show it.{more}"
    return f"Result record {where} ({what}); the tables do NOT show it: {src.record.hidden}.{more}"


def _metric_block(src: RowSource, out_dir: Path, svg: bool, notes: list) -> list:
    row, evals = src.row, src.metrics.evals
    name = row.eval.metric
    label = tolerances().metric(name).label or name
    if not evals:
        why = ("the row's RuntimeSpec.eval_every is 0" if not row.runtime.eval_every
               else "metrics.jsonl has no metric lines (a run from before the in-training metric, "
                    "or no run directory)")
        notes.append(f"no in-training metric: {why}")
        return [B.Para([f"No in-training {label} curve: {why}."])]
    rec = src.record.record if src.record else {}
    ours = rec.get("ours") or {}
    paper = getattr(row.claim, name, None) if name in tolerances().CLAIM_METRICS else None
    tolerance = tolerances().metric(name).tolerance(paper) if paper is not None else None
    final, final_step = ours.get(name), (rec.get("training") or {}).get("steps")
    names = {e.get("metric_name") for e in evals}
    png = out_dir / "metric.png"
    kept = plots.metric_figure(
        evals, name, label, png, out_dir / "metric.svg" if svg else None, paper=paper,
        tolerance=tolerance, untrained=ours.get(f"{name}_untrained"),
        floor=ours.get(f"{name}_heldout_baseline"), final=final, final_step=final_step,
        final_num=(rec.get("protocol") or {}).get("num_samples"))
    first, last = evals[0], evals[-1]
    scored_by = {(e.get("row"), e.get("nfe")) for e in evals if e.get("row")}
    sampler = ("; sampled as " + ", ".join(f"{r} ({n} NFE)" for r, n in sorted(scored_by, key=str))
               if scored_by else "")
    cap = (f"{label} of the EMA weights during training, {first.get('metric_num', '?')} samples "
           f"every {row.runtime.eval_every} steps{sampler}: {first['metric']:.4g} at step "
           f"{first['step']}, {last['metric']:.4g} at step {last['step']}.")
    if final is not None:
        cap += f" Star: this row's final evaluation, {final:.4g}."
    if paper is not None:
        cap += f" Paper: {paper:g} (band ±{tolerance:.3g})."
    if f"{name}_untrained" in ours:
        cap += (f" Dashed: untrained network {ours[f'{name}_untrained']:.4g}; dotted: held-out real "
                f"digits {ours.get(f'{name}_heldout_baseline', float('nan')):.4g} (the floor).")
    if len(names - {name}) > 0:
        cap += f" (metric lines name {sorted(map(str, names))}.)"
    return [B.Figure("metric.png", f"{label} against the training step", cap,
                     svg="metric.svg" if kept else None)]


def _training_block(src: RowSource, out_dir: Path, svg: bool, notes: list) -> list:
    curves = src.metrics.curves
    if not curves:
        notes.append("no training curves: metrics.jsonl not found or empty")
        return [B.Para([f"No training curves: {_shown_path(src.run_dir / 'metrics.jsonl')} is "
                        f"missing or empty."])]
    kept = plots.training_figure(curves, out_dir / "training.png",
                                 out_dir / "training.svg" if svg else None)
    last = curves[-1]
    cap = (f"Loss, N(k), c and training steps/s against the step, logged every "
           f"{src.row.runtime.log_every} steps. Last line: step {last['step']}, loss "
           f"{fmt(last.get('loss'))}, N {fmt(last.get('N'))}, c {fmt(last.get('c'))}, "
           f"{fmt(last.get('steps_per_s'), 3)} steps/s, wall {fmt(last.get('wall_s'), 4)} s.")
    return [B.Figure("training.png", "training curves", cap, svg="training.svg" if kept else None)]


def _grid_captions(src: RowSource, tables=None) -> list:
    """(row id, grid path, caption) for every row of this training key with a grid in the run."""
    from repro.rows import load_row

    eval_root = src.run_dir / "eval"
    if not eval_root.is_dir():
        return []
    out = []
    for d in sorted(eval_root.iterdir()):
        grid = d / "grid.png"
        if not grid.is_file():
            continue
        rid = d.name.replace("__", "/")
        rec = (pick_record(rid, tables) if src.record is None or src.record.in_registry else None) \
            or run_record(src.run_dir, rid)
        r = rec.record if rec else {}
        proto, training = r.get("protocol") or {}, r.get("training") or {}
        try:
            other = load_row(rid, overrides=src.row.overrides, smoke=src.row.smoke) if rid != src.row.id else src.row
            nfe, seed = other.eval.nfe, other.eval.seed
        except ReproError:
            nfe, seed = proto.get("nfe"), proto.get("seed")
        nfe, seed = proto.get("nfe", nfe), proto.get("seed", seed)
        step = training.get("steps", "unknown (no record)")
        n = f" of {proto['num_samples']}" if proto.get("num_samples") else ""
        out.append((rid, grid, f"{rid}: NFE {nfe}, step {step}, sampling seed {seed}, first 64{n} samples"))
    # this row first, then the others of its training key
    return sorted(out, key=lambda t: (t[0] != src.row.id, t[0]))


def _samples_block(src: RowSource, out_dir: Path, notes: list, tables=None) -> list:
    grids = _grid_captions(src, tables)
    if not grids:
        notes.append("no sample grids in the run directory")
        return [B.Para([f"No sample grids under {_shown_path(src.run_dir / 'eval')}."])]
    out = []
    for rid, grid, cap in grids:
        name = f"grid-{eval_name(rid)}.png"
        _copy(grid, out_dir / name)
        out.append(B.Figure(name, f"sample grid of {rid}", cap, width=384, pixelated=True))
    return out


def _warnings_block(src: RowSource) -> list:
    w = src.metrics.warnings
    if not w:
        extra = f" ({src.metrics.unreadable} unreadable lines skipped)" if src.metrics.unreadable else ""
        return [B.Para([f"No warnings in metrics.jsonl{extra}."])]
    rows = [[str(x.get("step")), str(x.get("warning")),
             ", ".join(f"{k} {fmt(v)}" for k, v in x.items() if k not in ("step", "warning"))] for x in w]
    return [B.Table(["step", "warning", "details"], rows)]


def _recipe_blocks(row) -> list:
    from repro.rows.summary import summarize

    s = summarize(row)
    switches, unconfirmed = s.pop("switches"), s.pop("unconfirmed")
    out = [B.Heading("Recipe"),
           B.Para(["The row's recipe as ", B.Mono(f"repro show {row.id}"), " prints it (the "
                   "operative gin config follows at the end of this page)."]),
           B.Table(["setting", "value"], [[k, fmt(v, 6)] for k, v in _flatten(s)]),
           B.Heading("Paper-vs-code switches"),
           (B.Table(["switch", "value in force"], [[k, fmt(v, 6)] for k, v in switches.items()])
            if switches else B.Para(["None."])),
           B.Heading("Unconfirmed settings"),
           (B.Bullets(list(unconfirmed)) if unconfirmed else
            B.Para(["None: every setting of this row is confirmed by a paper or code text."]))]
    return out


def _provenance_blocks(src: RowSource, out_dir: Path) -> list:
    out = [B.Heading("Provenance")]
    if src.record is None:
        return out + [B.Para(["No record, so no provenance beyond the run directory: ",
                              _shown_path(src.run_dir), "."])]
    r, path = src.record.record, src.record.path
    git, ckpt, training = r.get("git") or {}, r.get("checkpoint") or {}, r.get("training") or {}
    hw = r.get("hardware") or {}
    from repro.report.sources import checkpoint_match

    rows = [
        ["record", B.Link(_shown_path(path), relpath(path, out_dir))],
        ["date (UTC)", r.get("date", "—")],
        ["git commit", f"{git.get('commit') or 'unknown'}"
                       f"{' (uncommitted changes)' if git.get('dirty') else ' (clean)' if git.get('dirty') is False else ''}"],
        ["hardware", f"{hw.get('device', '?')} x {hw.get('count', '?')}"],
        ["training key", str(r.get("training_key"))],
        ["training", f"{fmt(training.get('steps'))} of {fmt(training.get('total_steps'))} steps, "
                     f"{fmt(training.get('wall_s'), 4)} s wall, {fmt(training.get('gpu_hours'), 3)} GPU-hours"],
        ["checkpoint", str(ckpt.get("path"))],
        ["checkpoint sha256", str(ckpt.get("sha256"))],
        ["run directory", _shown_path(src.run_dir) + ("" if src.run_exists else " (not on this machine)")],
        ["run dir vs record", checkpoint_match(src.run_dir, r) if src.run_exists else "no run directory"],
        ["sampling", ", ".join(f"{k} {fmt(v)}" for k, v in (r.get("protocol") or {}).items()
                               if k in ("nfe", "sigmas", "seed", "num_samples", "ema", "batch_size"))],
    ]
    pk = r.get("packages") or {}
    out.append(B.Table(["what", "value"], rows))
    out.append(B.Table(["package", "version"], [[k, str(v or "not installed")] for k, v in sorted(pk.items())]))
    return out


def row_page(row, runs=None, tables=None, svg=True, force=False) -> Written | None:
    """Write the page of one row; None when there is nothing to report here (no run directory and
    no record the tables show)."""
    src = gather(row, runs, tables)
    shown = src.record is not None and src.record.in_registry and src.record.hidden is None
    if not shown and not src.run_exists:
        return None
    svg = svg and not shown          # pages under tables/ are committed: PNG only, kept small
    out_dir = src.report_dir
    drawn = [p.name for p in out_dir.glob("*.png")] if out_dir.is_dir() else []
    if not src.run_exists and drawn and not force:
        # made where the run was: rewriting it here would drop its curves and samples
        return Written(row.id, out_dir / f"{PAGE}.html", out_dir / f"{PAGE}.md", [
            f"kept the page as it is: it shows {len(drawn)} images and the run directory "
            f"{_shown_path(src.run_dir)} is not on this machine (--force rewrites it from the record alone)"])
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list = []
    tol = tolerances()
    claim = row.claim
    page = B.Page(f"{row.id}: {claim.label}")
    page.add(B.Para([f"Paper {claim.paper}, table {claim.table}, {claim.nfe} NFE; the claim comes "
                     f"from {claim.source or '—'}{'' if claim.confirmed else ' (UNCONFIRMED)'}. "
                     f"Training key {row.training_key}."]),
             B.Para([_record_state(src, tables)]))
    results = _results_table(src)
    page.add(B.Heading("Result"))
    page.add(results if results is not None else B.Para(["No numbers yet."]))
    if results is not None:
        page.add(B.Para([f"Status rule (repro/results/tolerances.py): ours within the tolerance "
                         f"of the paper's number; 'within tolerance (better)' counts as reproduced. "
                         f"Row status: {tol.combine([r[-1] for r in results.rows if r[-1] != 'baseline'])}."]))
    page.add(B.Heading("In-training metric"), *_metric_block(src, out_dir, svg, notes))
    page.add(B.Heading("Training"), *_training_block(src, out_dir, svg, notes))
    page.add(B.Heading("Samples"), *_samples_block(src, out_dir, notes, tables))
    page.add(B.Heading("Warnings logged during training"), *_warnings_block(src))
    page.add(*_recipe_blocks(row))
    page.add(*_provenance_blocks(src, out_dir))
    page.add(B.Heading("Operative gin config"), B.Code(row.operative_config or "(not rendered)"))
    page.add(B.Para(["Generated by ", B.Mono(f"repro report {row.id}"), " from "
                     f"{_shown_path(src.run_dir / 'metrics.jsonl')} and the row's record."]))
    if not src.run_exists:
        notes.append(f"run directory {_shown_path(src.run_dir)} not found: provenance only")
    html_path, md_path = write_page(page, out_dir)
    remove_stale(page, out_dir)
    return Written(row.id, html_path, md_path, notes)

