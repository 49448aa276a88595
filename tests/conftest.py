import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("REPRO_NO_PROGRESS", "1")

# The thread choice the CLI makes, before anything imports torch: under load (a busy CI machine)
# spinning OpenMP threads otherwise slow every test that trains by an order of magnitude.
from repro.launch.threads import configure_threads  # noqa: E402

configure_threads()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Runs, registry and caches under tmp_path, so tests never touch the checkout's tables/."""
    for var, sub in (("REPRO_RUNS", "runs"), ("REPRO_TABLES", "tables"), ("REPRO_CACHE", "cache"),
                     ("REPRO_DATA", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path
