"""`repro data prepare DATASET --src PATH` and `repro data encode DATASET`."""
from __future__ import annotations

HELP = "prepare datasets and the VAE latent cache"
DESCRIPTION = """\
prepare: validate a downloaded release and convert it once into $REPRO_DATA/<name>/
         (images.npy uint8 memmap, labels.npy, manifest.json); re-running is a no-op.
encode:  encode a prepared dataset with the SD VAE into its latent cache (sLCT rows);
         resumable: an interrupted run continues at the last complete chunk.
datasets: cifar10, imagenet64, celebahq256, ffhq256, lsun_church256
"""


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("prepare", help="validate and convert a release")
    p.add_argument("dataset")
    p.add_argument("--src", required=True, help="the downloaded release (directory)")
    p.add_argument("--root", default=None, help="output root (default $REPRO_DATA)")
    p.add_argument("--allow-nonstandard", "--allow-count-mismatch", dest="allow_nonstandard",
                   action="store_true",
                   help="accept a source whose count or checksums differ from the release "
                        "(recorded as standard: false in the manifest)")
    p.add_argument("--no-progress", action="store_true")
    e = sub.add_parser("encode", help="encode prepared images into the SD-VAE latent cache")
    e.add_argument("dataset")
    e.add_argument("--root", default=None)
    e.add_argument("--batch", type=int, default=32)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--with-flips", action="store_true",
                   help="also encode mirrored images (LSUN Church: the sLCT code trains on 120K images plus their mirrors)")
    e.add_argument("--device", default=None, help="default: cuda when available")
    e.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    if args.data_command == "prepare":
        from repro.data.prepare import prepare
        dest = prepare(args.dataset, args.src, root=args.root,
                       allow_nonstandard=args.allow_nonstandard, progress=not args.no_progress)
        print(f"prepared {args.dataset}: {dest}")
        return 0
    import torch

    from repro.data.latents import encode_dataset
    from repro.data.vae import load_vae, vae_weights_hash
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    vae = load_vae(device=device)
    out = encode_dataset(args.dataset, root=args.root, batch_size=args.batch, vae=vae,
                         vae_hash=vae_weights_hash(), seed=args.seed,
                         with_flips=args.with_flips, progress=not args.no_progress)
    print(f"encoded {args.dataset}: {out}")
    return 0
