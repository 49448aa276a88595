"""`repro verify`: checkpoint hash, re-evaluation (injected here), agreement within tolerance."""
import pytest

from repro.cli import main
from repro.io import ReproError
from repro.results import records as registry
from repro.results import verify
from repro.specs import Claim, DataSpec, Row

from helpers.specs import recipe


def _head():
    import subprocess
    from pathlib import Path
    return subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _write(tmp_path, git=None, row=None):
    import dataclasses

    from repro.rows import load_row
    row = row or load_row("demo/digits/nfe1")
    row = dataclasses.replace(row, eval=dataclasses.replace(row.eval, num_samples=500))
    ckpt = tmp_path / "latest.pt"
    ckpt.write_bytes(b"weights v1")
    # provenance pinned: clean at this repository's HEAD unless a test says otherwise
    rec = registry.make_record(row, {"w2_pixels": 0.2000}, {"impl": "repro"}, ckpt,
                               {"wall_s": 10.0, "gpu_hours": 0.0, "steps": 100},
                               hardware={"device": "cpu", "count": 1},
                               extra={"git": git or {"commit": _head(), "dirty": False}})
    return registry.write_record(rec, tmp_path), ckpt


@pytest.fixture
def recorded(tmp_path):
    return _write(tmp_path)


@pytest.mark.parametrize("git,why", [({"commit": _head(), "dirty": True}, "uncommitted changes"),
                                     ({"commit": "0" * 40, "dirty": False}, "not in this repository"),
                                     ({"commit": None, "dirty": None}, "git commit unknown")])
def test_numbers_agree_but_provenance_fails(tmp_path, git, why):
    path, _ = _write(tmp_path, git=git)
    res = verify.verify_record(path, evaluate_fn=lambda r, c: {"w2_pixels": 0.2000})
    assert not res.ok and res.exit_code == 1
    assert any(ln.startswith("FAIL provenance") and why in ln for ln in res.lines), res.lines
    assert res.lines[-1].startswith("NOT verified")


def test_recipe_changed_since_record_fails_provenance(tmp_path):
    import dataclasses

    from repro.rows import load_row
    row = load_row("demo/digits/nfe1")
    then = row.operative_config.replace("LossSpec.diff_r = ", "LossSpec.diff_r = 0.5 #")
    path, _ = _write(tmp_path, row=dataclasses.replace(row, operative_config=then))
    res = verify.verify_record(path, evaluate_fn=lambda r, c: {"w2_pixels": 0.2000})
    assert res.exit_code == 1 and any("recipe changed" in ln for ln in res.lines), res.lines


def test_agree(recorded):
    path, ckpt = recorded
    seen = {}

    def fake(record, ckpt_path):
        seen.update(row=record["row"], ckpt=ckpt_path, n=record["protocol"]["num_samples"])
        return {"w2_pixels": 0.2001, "protocol": {"num_samples": 500}}
    res = verify.verify_record(path, evaluate_fn=fake)
    assert res.ok and res.exit_code == 0, res.lines
    assert seen == {"row": "demo/digits/nfe1", "ckpt": ckpt, "n": 500}
    assert any("agree" in ln and "0.2001" in ln for ln in res.lines)


def test_disagree(recorded):
    path, _ = recorded
    res = verify.verify_record(path, evaluate_fn=lambda r, c: {"ours": {"w2_pixels": 0.25}})
    assert not res.ok and res.exit_code == 1
    assert any(ln.startswith("FAIL w2_pixels") and "disagree" in ln for ln in res.lines)


def test_missing_metric_disagrees(recorded):
    path, _ = recorded
    assert verify.verify_record(path, evaluate_fn=lambda r, c: {}).exit_code == 1


def test_checkpoint_hash_mismatch(recorded):
    path, ckpt = recorded
    ckpt.write_bytes(b"weights v2")
    called = []
    res = verify.verify_record(path, evaluate_fn=lambda r, c: called.append(1) or {})
    assert res.exit_code == 1 and not called
    assert any("sha256 mismatch" in ln for ln in res.lines)


def test_missing_checkpoint_names_it(recorded, tmp_path):
    path, ckpt = recorded
    ckpt.unlink()
    with pytest.raises(ReproError, match="checkpoint not found"):
        verify.verify_record(path, evaluate_fn=lambda r, c: {})


def test_cli_exit_codes(recorded, monkeypatch, capsys, tmp_path):
    path, ckpt = recorded
    monkeypatch.setattr(verify, "default_evaluate", lambda r, c: {"w2_pixels": 0.2})
    assert main(["verify", str(path)]) == 0
    assert "verified" in capsys.readouterr().out
    moved = tmp_path / "elsewhere.pt"
    ckpt.rename(moved)
    assert main(["verify", str(path)]) == 2                      # not found: one-line error
    assert "--ckpt" in capsys.readouterr().err
    assert main(["verify", str(path), "--ckpt", str(moved)]) == 0
    monkeypatch.setattr(verify, "default_evaluate", lambda r, c: {"w2_pixels": 0.3})
    assert main(["verify", str(path), "--ckpt", str(moved)]) == 1


def test_checkpoint_found_by_hash_in_ckpt_dir_and_cache(recorded, tmp_path, monkeypatch):
    """A record that travelled: its recorded path is gone, the checkpoint is found by its sha256."""
    import json

    path, ckpt = recorded
    digest = json.loads(path.read_text())["checkpoint"]["sha256"]
    elsewhere = tmp_path / "sent" / "nested"
    elsewhere.mkdir(parents=True)
    ckpt.rename(elsewhere / "any-name.pt")
    fake = lambda r, c: {"w2_pixels": 0.2}                         # noqa: E731
    monkeypatch.delenv("REPRO_CACHE", raising=False)
    with pytest.raises(ReproError, match="checkpoint not found"):
        verify.verify_record(path, evaluate_fn=fake)
    res = verify.verify_record(path, evaluate_fn=fake, ckpt_dirs=[tmp_path / "sent"])
    assert res.exit_code == 0 and "any-name.pt" in res.lines[1], res.lines
    cache = tmp_path / "cache"
    (cache / "checkpoints").mkdir(parents=True)
    (elsewhere / "any-name.pt").rename(cache / "checkpoints" / f"{digest}.pt")
    monkeypatch.setenv("REPRO_CACHE", str(cache))
    assert verify.verify_record(path, evaluate_fn=fake).exit_code == 0
    # a file named by the hash but holding other bytes is not taken for it
    (cache / "checkpoints" / f"{digest}.pt").write_bytes(b"weights v2")
    with pytest.raises(ReproError, match="checkpoint not found"):
        verify.verify_record(path, evaluate_fn=fake)


def test_record_names_a_url_when_configured(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("REPRO_CKPT_URL", "https://example.org/ckpts/")
    path, _ = _write(tmp_path)
    c = json.loads(path.read_text())["checkpoint"]
    assert c["url"] == f"https://example.org/ckpts/{c['sha256']}.pt"


def test_a_parameter_added_after_the_record_is_no_recipe_change(tmp_path):
    """A record's config lacks a setting added later (its default keeps the old behaviour): no
    change. A setting it had, with another value: a change."""
    import dataclasses

    from repro.rows import load_row
    row = load_row("demo/digits/nfe1")
    then = "\n".join(ln for ln in row.operative_config.splitlines() if not ln.startswith("LossSpec.diff_r"))
    path, _ = _write(tmp_path, row=dataclasses.replace(row, operative_config=then))
    res = verify.verify_record(path, evaluate_fn=lambda r, c: {"w2_pixels": 0.2000})
    assert res.exit_code == 0, res.lines
