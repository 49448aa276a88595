"""`repro verify`: checkpoint hash, re-evaluation (injected here), agreement within tolerance."""
import pytest

from repro.cli import main
from repro.io import ReproError
from repro.results import records as registry
from repro.results import verify
from repro.specs import (Claim, CurriculumSpec, DataSpec, EvalSpec, LossSpec, ModelSpec,
                         OptimSpec, Row, TrainSpec)


@pytest.fixture
def recorded(tmp_path):
    row = Row(id="demo/digits/nfe1", claim=Claim("demo", "demo", "CT on digits", 1),
              data=DataSpec("digits", 8, channels=1), model=ModelSpec(), loss=LossSpec(),
              curriculum=CurriculumSpec(), optim=OptimSpec(), train=TrainSpec(),
              eval=EvalSpec(metric="w2_pixels", num_samples=500))
    ckpt = tmp_path / "latest.pt"
    ckpt.write_bytes(b"weights v1")
    rec = registry.make_record(row, {"w2_pixels": 0.2000}, {"impl": "repro"}, ckpt,
                               {"wall_s": 10.0, "gpu_hours": 0.0, "steps": 100},
                               hardware={"device": "cpu", "count": 1})
    return registry.write_record(rec, tmp_path), ckpt


def test_agree(recorded):
    path, ckpt = recorded
    seen = {}

    def fake(record, ckpt_path):
        seen.update(row=record["row"], ckpt=ckpt_path, n=record["protocol"]["num_samples"])
        return {"w2_pixels": 0.2010, "protocol": {"num_samples": 500}}
    res = verify.verify_record(path, evaluate_fn=fake)
    assert res.ok and res.exit_code == 0, res.lines
    assert seen == {"row": "demo/digits/nfe1", "ckpt": ckpt, "n": 500}
    assert any("agree" in ln and "0.2010" in ln for ln in res.lines)


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
