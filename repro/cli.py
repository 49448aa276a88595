"""`repro` — reproduce the result tables of iCT and sLCT, row by row.

Each subcommand lives in repro/commands/<name>.py (HELP, add_arguments, run); this file only
dispatches, so `repro --help` stays fast and a missing optional piece breaks one command only.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from repro.io import ReproError
from repro.launch.threads import configure_threads

# Order is the order `repro --help` lists them in.
COMMANDS = [
    ("run", "train a row, evaluate it, record the result and print its table (the default job)"),
    ("train", "train a row (resumes from its run directory)"),
    ("eval", "sample a checkpoint and score it with the row's protocol"),
    ("list", "every row with its claim, training key and status"),
    ("show", "one row's recipe and operative config"),
    ("tables", "render tables/*.md from the registry (--check: fail when stale)"),
    ("verify", "re-check a result record against its checkpoint"),
    ("export", "pack result records (+ configs, checkpoints) into one archive for a reviewer"),
    ("import", "add the records of a `repro export` archive to the registry"),
    ("report", "static pages per row or table: curves, sample grids, recipe, provenance"),
    ("data", "prepare datasets and the VAE latent cache"),
    ("fetch", "download assets (VAE, Inception weights) into REPRO_CACHE, on a machine with internet"),
    ("submit", "send rows to SLURM through submitit"),
    ("status", "state of submitted jobs"),
    ("cancel", "cancel submitted jobs"),
]

EPILOG = """\
rows are named by their path under gin/ without .gin, e.g. slct/t2c/cauchy; `repro list` shows them.
the default job:   repro run demo/digits
environment:       REPRO_CACHE (assets), REPRO_DATA (prepared data), REPRO_RUNS (run dirs),
                   REPRO_TABLES (results registry and tables), REPRO_GIN (your own rows
                   directory), REPRO_ROOT (the project holding runs/ and tables/)
paths:             rows: REPRO_GIN, else the checkout's gin/, else the copy in the package.
                   project root: REPRO_ROOT, else the nearest directory at or above the cwd
                   with tables/results/ (or tables/ and gin/), else the source checkout.
                   runs: REPRO_RUNS, else <root>/runs; tables: REPRO_TABLES, else <root>/tables;
                   with no root, ./runs and ./tables (and a warning on stderr).
"""


def _load(name):
    return importlib.import_module(f"repro.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro", description="Reproduce the result tables of iCT (Song & Dhariwal 2023) and sLCT (Dao et al. 2025), row by row.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, default_help in COMMANDS:
        try:
            mod = _load(name)
        except ModuleNotFoundError as e:
            if e.name != f"repro.commands.{name}":
                raise
            continue
        help_ = getattr(mod, "HELP", default_help)
        p = sub.add_parser(name, help=help_, description=getattr(mod, "DESCRIPTION", help_),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    configure_threads()  # before any command imports torch
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and not argv[0].startswith("-") and argv[0] not in dict(COMMANDS):
        import difflib

        near = difflib.get_close_matches(argv[0], [name for name, _ in COMMANDS], n=1)
        if near:  # argparse (before 3.14) lists every choice but does not guess
            parser.error(f"unknown command '{argv[0]}'; did you mean '{near[0]}'?")
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # so a closed pipe raises here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`repro list | head`): stop quietly, as `yes | head` does. stdout
        # now points at /dev/null so the interpreter's final flush of the unsent rest cannot fail.
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # stdout is not a file (captured)
            pass
        return 141  # 128 + SIGPIPE: what a shell reports for a writer stopped by a closed pipe
    except ReproError as e:
        code = getattr(e, "exit_code", 2)
        print(f"repro {args.command}: {'error: ' if code == 2 else ''}{e}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"repro {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
