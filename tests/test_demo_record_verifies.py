"""The README's reviewer command: the committed demo record verifies against the checkpoint
shipped beside it (tables/checkpoints/<sha256>.pt), and an edited number fails naming its field."""
import json
from pathlib import Path

import pytest

from repro.cli import main

TABLES = Path(__file__).resolve().parent.parent / "tables"


def _shipped():
    """Committed demo records whose checkpoint is shipped under tables/checkpoints/."""
    out = []
    for p in sorted((TABLES / "results" / "demo" / "digits").rglob("*.json")):
        sha = json.loads(p.read_text())["checkpoint"]["sha256"]
        if sha and (TABLES / "checkpoints" / f"{sha}.pt").is_file():
            out.append(p)
    return out


@pytest.mark.slow
def test_shipped_demo_record_verifies_and_an_edit_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPRO_TABLES", str(TABLES))
    monkeypatch.delenv("REPRO_CACHE", raising=False)
    records = _shipped()
    assert records, "no demo record ships its checkpoint: the README's reviewer command cannot work"
    rec_path = records[0]
    assert main(["verify", str(rec_path)]) == 0, capsys.readouterr().out
    assert "verified" in capsys.readouterr().out
    rec = json.loads(rec_path.read_text())
    rec["ours"]["w2_pixels"] += 5.0
    edited = tmp_path / "results" / rec["row"] / rec_path.name
    edited.parent.mkdir(parents=True)
    edited.write_text(json.dumps(rec))
    assert main(["verify", str(edited)]) == 1
    out = capsys.readouterr().out
    assert any(ln.startswith("FAIL w2_pixels") for ln in out.splitlines()), out
