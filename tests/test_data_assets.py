"""`repro fetch --dry-run` lists every asset; offline `require_asset` errors are actionable."""
import pytest

from repro.cli import main
from repro.data.assets import ASSETS, require_asset
from repro.data.vae import load_vae
from repro.io import ReproError


def test_dry_run_lists_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    assert main(["fetch", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for a in ASSETS.values():
        assert a.name in out and a.url in out and str(tmp_path / a.rel) in out
    assert not any(tmp_path.iterdir())          # nothing downloaded
    assert main(["fetch", "--dry-run", "--only", "vae"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert "sd-vae-ft-ema" in ASSETS["vae-weights"].url
    assert ASSETS["inception-pytorch"].url.endswith("pt_inception-2015-12-05-6726825d.pth")


def test_unknown_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    assert main(["fetch", "--only", "nope"]) == 2
    assert "no such asset" in capsys.readouterr().err


def test_require_asset_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    with pytest.raises(ReproError) as e:
        require_asset("vgg16")
    msg = str(e.value)
    assert "\n" not in msg and "vgg16.pt" in msg and str(tmp_path / "vgg16" / "vgg16.pt") in msg
    assert f"REPRO_CACHE={tmp_path} repro fetch --only vgg16" in msg
    with pytest.raises(ReproError, match="repro fetch --only vae-config"):
        load_vae()
    p = tmp_path / ASSETS["vgg16"].rel
    p.parent.mkdir(parents=True)
    p.write_bytes(b"x")
    assert require_asset("vgg16") == p
