"""Files the project writes follow the umask (a shared REPRO_CACHE must be readable by others)."""
import os
import stat

import pytest

from repro.io import append_text, atomic_write_json, atomic_write_text


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "sub" / "b.json", {"a": 1})
        append_text(tmp_path / "c.jsonl", "{}\n")
    finally:
        os.umask(old)
    for p in (tmp_path / "a.txt", tmp_path / "sub" / "b.json", tmp_path / "c.jsonl"):
        assert stat.S_IMODE(p.stat().st_mode) == mode, p


def test_checkpoint_and_hash_follow_umask(tmp_path):
    torch = pytest.importorskip("torch")
    from repro.train.checkpoint import hash_path, save_checkpoint
    old = os.umask(0o022)
    try:
        p = save_checkpoint(tmp_path, {"step": 1, "model": {"w": torch.zeros(2)}})
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert stat.S_IMODE(hash_path(p).stat().st_mode) == 0o644


def test_append_reports_full_disk_in_one_line(tmp_path, monkeypatch):
    import builtins
    import errno

    from repro.io import ReproError

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(ReproError) as e:
        append_text(tmp_path / "m.jsonl", "{}\n")
    assert "m.jsonl: cannot write" in str(e.value) and "\n" not in str(e.value)
