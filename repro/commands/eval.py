HELP = "sample a checkpoint with the row's sampler and score it with the row's protocol"
DESCRIPTION = """Sample a checkpoint (a ckpt/step-*.pt file or a run directory) with the row's
sampler, stream the images into the row's metric (clean-fid FID for paper rows, with the
protocol of the paper; precision/recall where the paper reports them), save grid.png, and write
a result record into the registry (unless --no-record)."""

from repro.commands._common import add_row_args, load_rows, positive_int


def add_arguments(p):
    add_row_args(p, many=False)
    p.add_argument("--ckpt", required=True, help="checkpoint file or run directory")
    p.add_argument("--num", type=positive_int, default=None, help="number of samples (default: the row's, 50000)")
    p.add_argument("--nfe", type=int, default=None, help="1, or 2 with the row's (or --sigmas) middle sigma")
    p.add_argument("--sigmas", type=float, nargs="+", default=None, help="sampler sigmas, first = sigma_max")
    p.add_argument("--seed", type=int, default=None, help="base seed (default: the row's)")
    p.add_argument("--out", default=None, help="output directory (default: <run dir>/eval/<row>)")
    p.add_argument("--save-images", action="store_true", help="also write every sample as a PNG")
    p.add_argument("--tables", default=None, help="registry root (default $REPRO_TABLES or <project>/tables)")
    p.add_argument("--no-record", action="store_true", help="do not write a result record")


def run(args) -> int:
    import dataclasses

    from repro.io import ReproError
    from repro.results.evaluate import evaluate_and_record, record_line

    row = load_rows(args)[0]
    sigmas = tuple(args.sigmas) if args.sigmas else None
    if args.nfe is not None and sigmas is None:
        if args.nfe == 1:
            sigmas = (row.loss.sigma_max,)
        elif args.nfe == len(row.eval.sigmas):
            sigmas = row.eval.sigmas
        else:
            raise ReproError(f"--nfe {args.nfe}: the row samples with {len(row.eval.sigmas)} step(s); "
                             f"give the sigmas with --sigmas")
    if sigmas:
        ev = dataclasses.replace(row.eval, sigmas=sigmas, nfe=len(sigmas))
        row = dataclasses.replace(row, eval=ev)
    res = evaluate_and_record(row, args.ckpt, args.out, num=args.num, device=args.device or "auto",
                              progress=not args.no_progress, seed=args.seed,
                              save_images=args.save_images, record=not args.no_record,
                              tables=args.tables)
    for k, v in res["metrics"].items():
        print(f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}")
    print(f"grid: {res['eval_dir'] / 'grid.png'}")
    if res["record_path"] is not None:
        print(record_line(res["record_path"]))
    return 0
