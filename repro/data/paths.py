"""Where assets and prepared datasets live (ARCHITECTURE "Environment").

REPRO_CACHE holds downloaded assets (default ~/.cache/repro); REPRO_DATA holds prepared
datasets (default $REPRO_CACHE/data). Read at call time, not import time, so tests can point
them at a temp dir with monkeypatch.setenv.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache=None) -> Path:
    if cache is not None:
        return Path(cache).expanduser()
    return Path(os.environ.get("REPRO_CACHE") or "~/.cache/repro").expanduser()


def data_root(root=None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("REPRO_DATA")
    return Path(env).expanduser() if env else cache_root() / "data"


def dataset_dir(name: str, root=None) -> Path:
    return data_root(root) / name
