HELP = "one row's recipe summary and operative gin config"
DESCRIPTION = """Print a row's recipe: claim, network, loss, curriculum, sampler, evaluation protocol,
paper-vs-code switches, unconfirmed settings and training key, followed by the operative gin
config. --json prints the summary as JSON.

The parameter count needs the network built (torch, a few seconds), so it is counted only with
--params; without it the text says so and the JSON has "params": null."""

NOT_REPORTED = "not reported"
NONE = "—"


def add_arguments(p):
    p.add_argument("row", help="row id, e.g. slct/t2c/cauchy (see `repro list`)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--params", action="store_true",
                   help="count the network's parameters (builds it on torch's meta device)")
    p.add_argument("--smoke", action="store_true", help="show the shrunken smoke variant")
    p.add_argument("--set", action="append", default=[], metavar="BINDING",
                   help="extra gin binding, e.g. --set 'TrainSpec.batch_size=64' (repeatable)")


def fmt(v) -> str:
    """A summary value as a reader writes it: no None, no brackets, no trailing '.0'."""
    if v is None:
        return NONE
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return fmt(int(v))
        return repr(v)  # the shortest text that reads back as the same number
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v) if v else NONE
    if isinstance(v, dict):
        return ", ".join(f"{k} {fmt(x)}" for k, x in v.items())
    return str(v)


def text(s: dict) -> str:
    """The human-readable summary (everything but the operative config)."""
    c, m, l, cu, e, ns = s["claim"], s["model"], s["loss"], s["curriculum"], s["eval"], s["noise_sampler"]
    claim = ", ".join(f"{name} {NOT_REPORTED if c[key] is None else fmt(c[key])}"
                      for name, key in (("FID", "fid"), ("precision", "precision"), ("recall", "recall")))
    params = (f"{m['params'] / 1e6:.2f} M params" if m["params"] is not None
              else "params not counted (--params counts them; it loads torch)")
    c_txt = "" if l["c_value"] is None else f" = {l['c_value']:.5g}"
    d = s["diffusion_loss"]
    diff = "off" if d is None else (f"r {fmt(d['r'])}, weight {fmt(d['weight'])} x {d['weighting']}, "
                                    f"index rule {d['index_rule']}")
    sampler = ns["kind"] if ns.get("p_mean") is None else \
        f"{ns['kind']} (P_mean {fmt(ns['p_mean'])}, P_std {fmt(ns['p_std'])})"
    epochs = "" if s["epochs"] is None else f", {fmt(s['epochs'])} epochs"
    sigmas = fmt(s["sampler_sigmas"]) if s["sampler_sigmas"] else "none (the diffusion sampler's own schedule)"
    lines = [
        f"{s['id']}  ({s['paper']} table {s['table']}: {s['label']}, {s['nfe']} NFE)",
        f"  claim        {claim}  [{c['source']}{'' if c['confirmed'] else '; UNCONFIRMED'}]",
        f"  model        {m['arch']}; {m['channels']} channels, multipliers {fmt(m['channel_mult'])}; "
        f"{m['num_blocks']} block{'' if m['num_blocks'] == 1 else 's'} per level; norm {m['norm']}/{m['last_norm']}; "
        f"{m['embedding']} embedding; dropout {fmt(s['dropout'])}; {params}",
        f"  loss         {s['objective']}: {l['name']} ({l['reduction']}), c {l['c_kind']}{c_txt}, "
        f"weighting {s['weighting']}, OT {'on' if s['ot_coupling'] else 'off'}, diffusion term {diff}",
        f"  curriculum   {cu['kind']} s0={cu['s0']} s1={cu['s1']}, K={fmt(cu['total_steps'])} steps "
        f"(batch {fmt(s['batch_size'])}{epochs}); index sampler {sampler}",
        f"  optimiser    {s['optimizer']}, lr {fmt(s['lr'])}, weight decay {fmt(s['weight_decay'])}; "
        f"EMA rates {fmt(s['ema_rates'])} (evaluated: {fmt(s['ema'])})",
        f"  evaluation   {e['metric']} ({e['fid_mode']}, reference {e['reference'] or NONE}, "
        f"{fmt(e['num_samples'])} samples, {e['gen_format']}), sigmas {sigmas}, "
        f"precision/recall {e['precision_recall']}",
        "  switches" + ("" if s["switches"] else f"     {NONE}"),
        *(f"    {k}: {fmt(v)}" for k, v in s["switches"].items()),
    ]
    if s.get("mirrors"):
        lines.insert(2, f"  mirrors      {s['mirrors']} (toy row: that paper row's recipe at toy scale, "
                        f"docs/TOY.md; `repro show {s['mirrors']}`)")
    if s["unconfirmed"]:
        lines.append(f"  UNCONFIRMED  {', '.join(s['unconfirmed'])}")
    lines.append(f"  training key {s['training_key']}; est. {fmt(s['gpu_hours_est'])} GPU-hours")
    return "\n".join(lines)


def run(args) -> int:
    import json

    from repro.rows import load_row
    from repro.rows.summary import summarize

    row = load_row(args.row, overrides=args.set, smoke=args.smoke)
    s = summarize(row, with_params=args.params)
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    print(text(s))
    print("\n# operative config\n" + row.operative_config)
    return 0
