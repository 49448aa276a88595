HELP = "one row's recipe summary and operative gin config"
DESCRIPTION = """Print a row's recipe: claim, network (with its parameter count), loss, curriculum,
sampler, evaluation protocol, paper-vs-code switches, unconfirmed settings and training key,
followed by the operative gin config. --json prints the summary as JSON."""


def add_arguments(p):
    p.add_argument("row", help="row id, e.g. slct/t2c/cauchy (see `repro list`)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--smoke", action="store_true", help="show the shrunken smoke variant")
    p.add_argument("--set", action="append", default=[], metavar="BINDING",
                   help="extra gin binding, e.g. --set 'TrainSpec.batch_size=64' (repeatable)")


def run(args) -> int:
    import json

    from repro.rows import load_row
    from repro.summary import summarize

    row = load_row(args.row, overrides=args.set, smoke=args.smoke)
    s = summarize(row)
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    c = s["claim"]
    print(f"{row.id}  ({s['paper']} table {s['table']}: {s['label']}, {s['nfe']} NFE)")
    print(f"  claim        FID {c['fid']}  precision {c['precision']}  recall {c['recall']}"
          f"  [{c['source']}{'' if c['confirmed'] else '; UNCONFIRMED'}]")
    m = s["model"]
    params = f"{m['params'] / 1e6:.2f} M params" if m["params"] else "params: n/a"
    print(f"  model        {m['arch']} {m['channels']}ch x{tuple(m['channel_mult'])} {m['num_blocks']} blocks, "
          f"norm {m['norm']}/{m['last_norm']}, {m['embedding']} embedding, dropout {s['dropout']}; {params}")
    l = s["loss"]
    c_txt = "" if l["c_value"] is None else f" = {l['c_value']:.5g}"
    print(f"  loss         {s['objective']}: {l['name']} ({l['reduction']}), c {l['c_kind']}{c_txt}, "
          f"weighting {s['weighting']}, OT {'on' if s['ot_coupling'] else 'off'}, diffusion term {s['diffusion_loss']}")
    cu = s["curriculum"]
    print(f"  curriculum   {cu['kind']} s0={cu['s0']} s1={cu['s1']}, K={cu['total_steps']:,} steps"
          f" (batch {s['batch_size']}, epochs {s['epochs']}); index sampler {s['noise_sampler']}")
    print(f"  optimiser    {s['optimizer']} lr {s['lr']} wd {s['weight_decay']}; EMA {s['ema_rates']} (eval {s['ema']})")
    e = s["eval"]
    print(f"  evaluation   {e['metric']} ({e['fid_mode']}, ref {e['reference'] or '-'}, {e['num_samples']:,} samples, "
          f"{e['gen_format']}), sigmas {s['sampler_sigmas']}, P/R {e['precision_recall']}")
    print(f"  switches     {s['switches']}")
    if s["unconfirmed"]:
        print(f"  UNCONFIRMED  {', '.join(s['unconfirmed'])}")
    print(f"  training key {s['training_key']}; est. {s['gpu_hours_est']} GPU-hours")
    print("\n# operative config\n" + row.operative_config)
    return 0
