"""Where the rows, the cluster profiles, the run directories and the tables are.

Every other module asks here, so that `repro` finds the same files from any directory and from
an installed wheel as from the source checkout.

- rows: $REPRO_GIN, else the checkout's gin/, else the copy inside the package (repro/_gin).
- profiles: the checkout's slurm/profiles/, else the copy inside the package (repro/_profiles).
- project root: $REPRO_ROOT, else the nearest directory at or above the cwd holding
  tables/results/ or both tables/ and gin/, else the checkout if it has tables/, else none.
- runs: $REPRO_RUNS, else <project root>/runs; tables: $REPRO_TABLES, else <project root>/tables.
  With no project root both fall back to the cwd, and one line on stderr says so (once).

Imports only the standard library: `repro --help` and the light commands load it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parent


def _env(name: str) -> Optional[Path]:
    value = os.environ.get(name, "")
    return Path(value).expanduser() if value else None


def source_checkout() -> Optional[Path]:
    """The source tree holding this package (an editable install or a plain checkout), else None.

    site-packages also has a gin/ (gin-config's), so a checkout is recognised by its pyproject.toml.
    """
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "gin").is_dir():
        return root
    return None


def gin_dir() -> Path:
    """The rows directory: $REPRO_GIN, else the checkout's gin/, else the packaged copy."""
    own = _env("REPRO_GIN")
    if own is not None:
        return own
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "gin"
    return PACKAGE_DIR / "_gin"


def profiles_dir() -> Path:
    """The named cluster profiles: the checkout's slurm/profiles/, else the packaged copy."""
    checkout = source_checkout()
    if checkout is not None and (checkout / "slurm" / "profiles").is_dir():
        return checkout / "slurm" / "profiles"
    return PACKAGE_DIR / "_profiles"


def _is_project(d: Path) -> bool:
    tables = d / "tables"
    return (tables / "results").is_dir() or (tables.is_dir() and (d / "gin").is_dir())


def project_root() -> Optional[Path]:
    """$REPRO_ROOT, else the nearest project at or above the cwd, else the checkout if it has
    tables/, else None."""
    own = _env("REPRO_ROOT")
    if own is not None:
        return own
    try:
        here = Path.cwd().resolve()
    except OSError:   # the cwd was deleted under us
        here = None
    if here is not None:
        for d in (here, *here.parents):
            if _is_project(d):
                return d
    checkout = source_checkout()
    if checkout is not None and (checkout / "tables").is_dir():
        return checkout
    return None


_warned = False


def _fallback(name: str) -> Path:
    global _warned
    cwd = Path.cwd()
    if not _warned:
        _warned = True
        print(f"repro: no project root found at or above {cwd} (a directory with tables/results/); "
              f"using {cwd / 'runs'} and {cwd / 'tables'}; set REPRO_ROOT (or REPRO_RUNS / REPRO_TABLES) "
              f"to choose", file=sys.stderr)
    return cwd / name


def _project_dir(name: str, env: str, override=None) -> Path:
    """`override`, else $<env>, else <project root>/<name> (else ./<name>, said once)."""
    if override:
        return Path(override)
    own = _env(env)
    if own is not None:
        return own
    root = project_root()
    return root / name if root is not None else _fallback(name)


def runs_root(override=None) -> Path:
    """Run directories: `override` (--runs), else $REPRO_RUNS, else <project root>/runs."""
    return _project_dir("runs", "REPRO_RUNS", override)


def tables_root(override=None) -> Path:
    """Registry and tables: `override` (--tables/--root), else $REPRO_TABLES, else
    <project root>/tables."""
    return _project_dir("tables", "REPRO_TABLES", override)
