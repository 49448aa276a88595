"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no
display, no global state).

Every figure reads in black and white: each series has its own line style and marker, bands are
hatched as well as shaded, and the legend names what a colour would otherwise say. Files are
reproducible: no date or software stamp in the PNG or SVG, a fixed SVG id salt.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

DPI = 80                     # modest: committed reports stay small
SVG_MAX_BYTES = 150_000      # an SVG larger than this is not kept (the PNG stays)
PNG_COLOURS = 64

# Status of a row in a table figure -> (marker, filled, colour, legend text)
STATUS_STYLE = {
    "within tolerance": ("s", True, "#1b7837", "ours: within tolerance"),
    "within tolerance (better)": ("D", True, "#2166ac", "ours: better than paper beyond tolerance"),
    "outside tolerance": ("X", True, "#b2182b", "ours: outside tolerance"),
    "no claim": ("^", True, "#444444", "ours (no paper number)"),
}


def _figure(w, h):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _save(fig, png: Path, svg: Path | None = None) -> Path | None:
    """Write the PNG (and the SVG when it stays small) atomically; returns the SVG path kept."""
    from matplotlib import rc_context

    from repro.io import atomic_write_bytes

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    # a line plot needs few colours: a 64-colour palette is a third of the size, and looks alike
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    buf = io.BytesIO()
    img.quantize(colors=PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
        .save(buf, format="PNG", optimize=True)
    atomic_write_bytes(png, buf.getvalue())
    if svg is None:
        return None
    buf = io.BytesIO()
    with rc_context({"svg.hashsalt": "repro-report", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    data = buf.getvalue()
    if len(data) > SVG_MAX_BYTES:
        Path(svg).unlink(missing_ok=True)
        return None
    atomic_write_bytes(svg, data)
    return svg


def _series(points, key):
    xs, ys = [], []
    for p in points:
        v = p.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(p["step"])
            ys.append(v)
    return xs, ys


def _marker_every(n: int) -> int:
    return max(1, n // 12)


def training_figure(curves, png: Path, svg: Path | None = None):
    """Loss, N(k), c and steps/s against the step, one panel each."""
    fig = _figure(9.0, 5.6)
    axes = fig.subplots(2, 2, sharex=True)
    panels = (("loss", "loss (mean over the logging window)", "-", "o", True),
              ("N", "N(k): discretisation points", "--", "s", False),
              ("c", "c: robust-loss scale", "-.", "^", False),
              ("steps_per_s", "training steps/s (evaluation excluded)", ":", "D", False))
    for ax, (key, title, ls, mk, log) in zip(axes.flat, panels):
        xs, ys = _series(curves, key)
        if xs:
            ax.plot(xs, ys, linestyle=ls, marker=mk, markevery=_marker_every(len(xs)), color="black",
                    markersize=4, linewidth=1.3)
            if log and min(ys) > 0 and max(ys) / min(ys) > 20:
                ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(title, fontsize=10)
        ax.grid(True, linestyle=":", linewidth=0.6, color="#999999")
    for ax in axes[1]:
        ax.set_xlabel("training step")
    return _save(fig, png, svg)


def metric_figure(evals, name: str, label: str, png: Path, svg: Path | None = None, *,
                  paper=None, tolerance=None, untrained=None, floor=None, final=None,
                  final_step=None, final_num=None):
    """The in-training metric against the step, with the lines a reader compares it to."""
    fig = _figure(9.0, 4.2)
    ax = fig.subplots()
    xs, ys = _series(evals, "metric")
    num = next((e.get("metric_num") for e in evals if e.get("metric_num")), None)
    ax.plot(xs, ys, linestyle="-", marker="o", markevery=_marker_every(len(xs)), color="black",
            markersize=5, linewidth=1.5,
            label=f"{label} during training (EMA weights, {num or '?'} samples)")
    if paper is not None:
        ax.axhline(paper, linestyle="-", color="#2166ac", linewidth=1.2, label=f"paper: {paper:g}")
        if tolerance:
            ax.axhspan(paper - tolerance, paper + tolerance, facecolor="#2166ac", alpha=0.12,
                       hatch="///", edgecolor="#2166ac", linewidth=0,
                       label=f"tolerance band: ±{tolerance:.3g}")
    if untrained is not None:
        ax.axhline(untrained, linestyle="--", color="#555555", linewidth=1.2,
                   label=f"untrained network: {untrained:.4g}")
    if floor is not None:
        ax.axhline(floor, linestyle=":", color="#1b7837", linewidth=1.6,
                   label=f"held-out real data (the floor): {floor:.4g}")
    if final is not None and final_step is not None:
        ax.plot([final_step], [final], linestyle="none", marker="*", markersize=14,
                markerfacecolor="white", markeredgecolor="black",
                label=f"final evaluation ({final_num or '?'} samples): {final:.4g}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{label} (lower is better)" if name in ("fid", "w2_pixels", "fd_pixels") else label)
    ax.grid(True, linestyle=":", linewidth=0.6, color="#999999")
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    return _save(fig, png, svg)


def table_figure(entries, metric_label: str, png: Path, svg: Path | None = None, *, extra=()):
    """Paper vs ours for every row of a table, left to right in the table's order.

    entries: dicts with label, paper, tolerance, ours, status. extra: (key, legend, marker,
    linestyle-free) series drawn for each entry that has the key (the demo's untrained and
    held-out values)."""
    n = len(entries)
    fig = _figure(max(6.5, 0.55 * n + 3.0), 4.8)
    ax = fig.subplots()
    xs = list(range(n))
    seen = set()

    def once(text):
        if text in seen:
            return None
        seen.add(text)
        return text

    for x, e in zip(xs, entries):
        if e.get("paper") is not None:
            tol = e.get("tolerance") or 0.0
            ax.errorbar([x - 0.12], [e["paper"]], yerr=[[tol], [tol]] if tol else None, fmt="o",
                        markerfacecolor="white", markeredgecolor="black", ecolor="black",
                        capsize=4, markersize=7, label=once("paper (bar: tolerance band)"))
        if e.get("ours") is not None:
            mk, filled, colour, text = STATUS_STYLE.get(e.get("status"), STATUS_STYLE["no claim"])
            if e.get("hidden"):
                filled, text = False, text + " (record not shown in the tables)"
            ax.plot([x + 0.12], [e["ours"]], linestyle="none", marker=mk, markersize=8,
                    markerfacecolor=colour if filled else "white", markeredgecolor="black",
                    label=once(text))
        for key, legend, mk in extra:
            if e.get(key) is not None:
                ax.plot([x + 0.12], [e[key]], linestyle="none", marker=mk, markersize=8,
                        markerfacecolor="white", markeredgecolor="#333333", label=once(legend))
        if e.get("ours") is None and e.get("paper") is None:
            ax.text(x, 0.02, "pending", rotation=90, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="#555555")
        elif e.get("ours") is None:
            ax.text(x + 0.12, 0.02, "pending", rotation=90, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="#555555")
    ax.set_xticks(xs)
    ax.set_xticklabels([e["label"] for e in entries], rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel(metric_label)
    ax.grid(True, axis="y", linestyle=":", linewidth=0.6, color="#999999")
    if seen:
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
    return _save(fig, png, svg)
