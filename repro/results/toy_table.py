"""tables/toy.md: the papers' ablation blocks at toy scale (gin/toy/, docs/TOY.md), beside the
paper's numbers for the mirrored rows and the paper's ordering.

A toy row scores W2 on digits, the paper row FID on 256² images: the numbers are not comparable,
only the orderings are. Each block (a paper table's section) lists its rows in the paper's order
(best first) and compares every row with the one the paper ranks just above it. The toy mean
difference of two rows is resolved when it exceeds RESOLVED_RULE's band; an unresolved pair says
nothing either way, and the table says so rather than count it as agreement.
"""
from __future__ import annotations

import math

from repro.results import spread as sp
from repro.results.records import provenance_problems

METRIC = "w2_pixels"
RESOLVED_RULE = ("a toy difference is resolved when |mean_a − mean_b| > 2·sqrt(std_a²/n_a + "
                 "std_b²/n_b) (two standard errors of the difference of the means)")
AGREES, DISAGREES, UNRESOLVED = "agrees", "disagrees", "within spread"


def _stats(group):
    s = sp.stats(group, METRIC) if group else None
    return None if s is None else {"mean": s[0], "std": s[1], "n": s[2]}


def compare(better, worse) -> tuple:
    """(verdict, toy Δ, band) for a pair the paper orders `better` (lower FID) above `worse`:
    AGREES when the toy W2 of `better` is lower by more than the band, DISAGREES when higher by
    more, else UNRESOLVED. Stats dicts as _stats returns them; a row with n = 1 has no spread."""
    d = worse["mean"] - better["mean"]
    band = 2 * math.sqrt(better["std"] ** 2 / better["n"] + worse["std"] ** 2 / worse["n"])
    if better["n"] < 2 or worse["n"] < 2:
        return UNRESOLVED, d, band
    return (AGREES if d > band else DISAGREES if d < -band else UNRESOLVED), d, band


def _heading(info) -> str:
    src = str(info.claim.get("source") or "").split("(")[0].strip()
    return " ".join(x for x in (src, info.section) if x) or info.id


def render_toy(title, placed, groups, fmt_text) -> str:
    """Markdown for toy.md. `placed`: the toy rows' _Info (repro/results/tables.py), `groups`:
    row id -> the records pooled for it (spread.seed_groups), `fmt_text` makes text inert."""
    from tabulate import tabulate

    out = [f"# {title}", ""]
    blocks: dict = {}
    for info in sorted(placed, key=lambda i: (i.claim.get("table", ""), i.order, i.id)):
        blocks.setdefault(_heading(info), []).append(info)
    floor, untrained = [], []
    for head, infos in blocks.items():
        infos.sort(key=lambda i: (i.claim.get("fid") is None, i.claim.get("fid") or 0, i.order, i.id))
        stats = {i.id: _stats(groups.get(i.id)) for i in infos}
        ranked = sorted((s["mean"], i.id) for i in infos if (s := stats[i.id]))
        toy_rank = {rid: k + 1 for k, (_, rid) in enumerate(ranked)}
        body, verdicts = [], []
        for k, info in enumerate(infos):
            s, group = stats[info.id], groups.get(info.id) or []
            for acc, name in ((floor, "_heldout_baseline"), (untrained, "_untrained")):
                if (x := sp.stats(group, METRIC + name)) is not None:
                    acc.append(x[0])
            fid = info.claim.get("fid")
            above = infos[k - 1] if k else None
            vs = "—"
            if above is not None and s and stats[above.id]:
                if above.claim.get("fid") == fid:
                    vs = f"paper ties with {fmt_text(above.label)}"
                else:
                    v, d, band = compare(stats[above.id], s)
                    vs = f"{v} (vs {fmt_text(above.label)}: Δ {d:+.1f}, band {band:.1f})"
                    verdicts.append(v)
            elif above is not None:
                vs = "pending"
            notes = [fmt_text(info.notes)] if info.notes else []
            if group and info.row is not None:
                notes += [f"not clean: {p}" for p in provenance_problems(group[-1], info.row)]
            if s:
                t, _ = sp.seeds_of(group)
                notes.append(f"{s['n']} records ({t} training seed{'s' if t != 1 else ''})")
            body.append([fmt_text(info.label), info.nfe, fmt_text(info.claim.get("mirrors", "")),
                         "–" if fid is None else f"{fid:.2f}", k + 1,
                         f"{s['mean']:.1f} ± {s['std']:.1f}" if s else "pending",
                         toy_rank.get(info.id, ""), vs, "; ".join(notes)])
        # every pair the paper orders, not only neighbours: which toy differences exceed the spread
        pairs = [(x, y, *compare(stats[x.id], stats[y.id]))
                 for a, x in enumerate(infos) for y in infos[a + 1:]
                 if stats[x.id] and stats[y.id] and x.claim.get("fid") != y.claim.get("fid")]
        resolved = [f"{fmt_text(x.label)} over {fmt_text(y.label)} {v} (Δ {d:+.1f}, band {band:.1f})"
                    for x, y, v, d, band in pairs if v != UNRESOLVED]
        n_pairs = len(pairs)
        out += [f"## {fmt_text(head)}", "",
                tabulate(body, headers=["Toy row", "NFE", "Mirrors", "Paper FID", "Paper rank",
                                        "Toy W2 (mean ± std)", "Toy rank",
                                        "Toy vs the paper's next-better row", "Notes"],
                         tablefmt="github", disable_numparse=True), ""]
        if n_pairs:
            out.append(f"Neighbours in the paper's order: {verdicts.count(AGREES)} agree, "
                       f"{verdicts.count(DISAGREES)} disagree, {verdicts.count(UNRESOLVED)} within "
                       f"spread. All {n_pairs} pairs the paper orders (its better row first): {len(resolved)} resolved"
                       + (": " + "; ".join(resolved) + "." if resolved else
                          " (no toy difference exceeds the spread)."))
            out.append("")
    mean = lambda v: f"{sum(v) / len(v):.1f}" if v else "—"     # noqa: E731
    out += ["- Generated by `repro tables` from the records under `results/toy/`; do not edit.",
            "- Toy rows: each includes the paper row it mirrors and gin/base/toy.gin, which changes "
            "only data (8x8 digits, pixels), network size, steps, batch, step size, EMA and "
            "evaluation (docs/TOY.md); a test holds it to that allow-list.",
            f"- Toy W2: exact 2-Wasserstein distance in pixel space (uint8 scale) from 500 samples to "
            f"500 held-out digits, lower is better; on this scale the untrained networks score "
            f"{mean(untrained)} and 500 real training digits {mean(floor)} (the floor). Paper FID: "
            "the mirrored row's printed 1-NFE FID (2 NFE where the row says so); the two metrics "
            "are not comparable, only the orderings are. Paper rank: 1 = best in its block.",
            f"- Seeds: {sp.GROUP_RULE}.",
            f"- Ordering: {RESOLVED_RULE}; 'agrees' = resolved in the paper's direction, "
            "'disagrees' = resolved against it, 'within spread' = toy scale does not tell.",
            ]
    return "\n".join(out).rstrip("\n") + "\n"
