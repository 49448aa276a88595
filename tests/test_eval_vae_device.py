"""Latent rows decode on the evaluation device, with one VAE per process for each (weights,
device, dtype), and rows sharing a checkpoint load its network once."""
import pytest
import torch

from repro.rows import load_row

LATENT = ["DataSpec.name='synthetic'", "DataSpec.latent=True", "DataSpec.resolution=16", "DataSpec.limit=8",
          "EvalSpec.metric='fid'"]


@pytest.fixture
def tiny_vae(monkeypatch):
    """The VAE builder replaced by a counting one that builds a tiny random VAE."""
    from repro.data import latents, vae
    built, seen = [], []

    def build(cache=None, device=None, **_):
        built.append(str(device))
        return vae.build_vae(vae.TINY_VAE_CONFIG, device=device)

    def decode(z, vae, batch_size=16):
        seen.append((z.device.type, next(vae.parameters()).device.type, next(vae.parameters()).dtype))
        return torch.zeros((len(z), 4, 4, 3), dtype=torch.uint8)

    monkeypatch.setattr(vae, "_EVAL_VAES", {})
    monkeypatch.setattr(vae, "vae_identity", lambda cache=None: "tiny")
    monkeypatch.setattr(vae, "load_vae", build)
    monkeypatch.setattr(latents, "decode_latents", decode)
    return built, seen


def _evaluate_row_decoding(monkeypatch, batches=3):
    """evaluate_row with `evaluate` replaced by one that decodes `batches` latent batches."""
    import importlib

    from repro.eval.row import evaluate_row
    ev = importlib.import_module("repro.eval.evaluate")     # the package re-exports the function

    def fake(f, spec, shape, out_dir, decode=None, device="cpu", **_):
        for k in range(batches):
            decode(torch.randn((2,) + tuple(shape), generator=torch.Generator().manual_seed(k)))
        return {"decode": decode.name}

    monkeypatch.setattr(ev, "evaluate", fake)
    return lambda row, device: evaluate_row(row, None, "unused", device=device, progress=False)


def test_decode_runs_on_the_eval_device_and_builds_the_vae_once(tiny_vae, monkeypatch, tmp_path):
    built, seen = tiny_vae
    run = _evaluate_row_decoding(monkeypatch)
    row = load_row("demo/digits/nfe1", overrides=LATENT)
    # 'meta' stands for the GPU: the latents and the VAE must both get there, not to the CPU.
    out = run(row, torch.device("meta"))
    assert out["decode"] == "vae:sd-vae-ft-ema"
    assert built == ["meta"] and seen == [("meta", "meta", torch.float32)] * 3
    # A second row of the same training (another evaluation setting) reuses that VAE.
    run(load_row("demo/digits/nfe1", overrides=LATENT + ["EvalSpec.seed=7"]), torch.device("meta"))
    assert built == ["meta"] and len(seen) == 6
    # Another dtype is another VAE, and the record's decode name says which.
    out = run(load_row("demo/digits/nfe1", overrides=LATENT + ["EvalSpec.vae_dtype='bf16'"]), "cpu")
    assert out["decode"] == "vae:sd-vae-ft-ema@bf16"
    assert built == ["meta", "cpu"] and seen[-1] == ("cpu", "cpu", torch.bfloat16)


def test_vae_dtype_is_validated():
    from repro.io import ReproError

    with pytest.raises(ReproError, match="EvalSpec.vae_dtype"):
        load_row("demo/digits/nfe1", overrides=["EvalSpec.vae_dtype='fp8'"])


def test_rows_sharing_a_checkpoint_load_it_once(tmp_path, monkeypatch):
    from repro.train import evalload
    from repro.train.build import initial_function
    from repro.train.checkpoint import save_checkpoint

    row = load_row("demo/digits/nfe1")
    f = initial_function(row)
    import json
    ckpt = save_checkpoint(tmp_path / "run", dict(
        step=1, model=f.state_dict(), optimizer={}, ema={str(r): f.state_dict() for r in row.train.ema_rates},
        training_key=row.training_key, spec=json.dumps(row.training_spec(), sort_keys=True)), keep=2)
    loads = []
    real = evalload.load_for_eval
    monkeypatch.setattr(evalload, "load_for_eval", lambda *a, **k: loads.append(1) or real(*a, **k))
    monkeypatch.setattr(evalload, "_LOADED", {})
    a = evalload.load_for_eval_cached(ckpt, row)
    b = evalload.load_for_eval_cached(ckpt, load_row("demo/digits/nfe1", overrides=["EvalSpec.seed=7"]))
    assert a is b and len(loads) == 1
    evalload.load_for_eval_cached(ckpt, row, device="meta")      # another device: another load
    assert len(loads) == 2
