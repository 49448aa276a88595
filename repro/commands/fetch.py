"""`repro fetch`: download the assets into REPRO_CACHE (needs internet; run on a login node)."""
from __future__ import annotations

HELP = "download assets (VAE, Inception, VGG16, reference stats) into REPRO_CACHE"


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="list every asset with its size, source URL and destination; download nothing")
    parser.add_argument("--only", default=None, metavar="NAME",
                        help="one asset or group (vae, inception, vgg16, stats)")
    parser.add_argument("--cache", default=None, help="default $REPRO_CACHE or ~/.cache/repro")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (also REPRO_NO_PROGRESS=1)")


def run(args) -> int:
    from repro.data.assets import fetch
    fetch(only=args.only, cache=args.cache, dry_run=args.dry_run, progress=not args.no_progress)
    return 0
