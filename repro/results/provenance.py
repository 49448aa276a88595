"""Where a result came from: the git state of the checkout holding the repro package, the
versions of the packages that decide the numbers, and the hardware. `records.make_record`
writes them into every record; `hidden_reason` (selection.py) reads the git state back.
Imports neither torch nor pandas at module level.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGES = ("torch", "torchvision", "repro", "clean-fid", "gin-config", "diffusers", "pot",
            "numpy", "scipy")


def git_state(path=None) -> dict:
    """Commit and dirty flag of the checkout holding the repro package (not of the cwd)."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        # Untracked files (runs/, new records) and the generated tables/ do not make the code
        # dirty: otherwise the tables a clean run re-renders would hide every later result.
        st = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no",
                             "--", ":(top)", ":(top,exclude)tables"],
                            capture_output=True, text=True, timeout=30)
        dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        return {"commit": commit.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions(names=PACKAGES) -> dict:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware_info() -> dict:
    try:
        import torch
    except ImportError:
        return {"device": "cpu", "count": 1}
    if torch.cuda.is_available():
        return {"device": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    return {"device": "cpu", "count": 1}
