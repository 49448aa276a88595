"""repro.launch's lazy exports name modules that still hold them (a split once left two stale)."""
import repro.launch as launch


def test_every_export_resolves():
    for name in launch.__all__:
        assert callable(getattr(launch, name)), name
