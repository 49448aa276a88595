"""The VAE: the real sd-vae-ft-ema architecture (meta device), and a tiny VAE for the
encode → cache → decode round trip, including resume after an interruption."""
import json

import numpy as np
import pytest
import torch

from repro.data import open_train_set
from repro.data.latents import encode_dataset, load_latents
from repro.data.prepare import prepare
from repro.data.vae import SD_VAE_CONFIG, SD_VAE_PARAMS, TINY_VAE_CONFIG, build_vae, load_vae
from repro.specs import DataSpec

from helpers.datasets import write_cifar


def test_real_config_param_count():
    vae = build_vae(SD_VAE_CONFIG, device="meta")
    assert sum(p.numel() for p in vae.parameters()) == SD_VAE_PARAMS == 83_653_863
    assert vae.config.scaling_factor == 0.18215


def test_load_vae_config_only(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    p = tmp_path / "vae/sd-vae-ft-ema/config.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(TINY_VAE_CONFIG))
    vae = load_vae(config_only=True)
    assert vae.config.block_out_channels == (8, 8) or list(vae.config.block_out_channels) == [8, 8]


class Interrupting(torch.nn.Module):
    """Wraps a VAE; raises KeyboardInterrupt on the k-th encode call (a killed run)."""
    def __init__(self, vae, k):
        super().__init__()
        self.vae, self.k, self.calls, self.config = vae, k, 0, vae.config

    def encode(self, x):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return self.vae.encode(x)


@pytest.fixture
def prepared(tmp_path):
    root = tmp_path / "d"
    prepare("cifar10", write_cifar(tmp_path / "c", n=10), root=root, allow_nonstandard=True,
            progress=False)
    return root


def test_encode_resume_decode(prepared):
    root = prepared
    vae = build_vae(TINY_VAE_CONFIG)
    kw = dict(root=root, batch_size=2, vae=vae, vae_hash="tiny", chunk_batches=2, progress=False)
    ref = encode_dataset("cifar10", **{**kw, "root": root}) / "latents.npy"
    ref = np.array(np.load(ref))
    import shutil
    shutil.rmtree(root / "cifar10" / "latents")
    with pytest.raises(KeyboardInterrupt):       # dies in batch 4: chunk 1 (batches 1-2) kept
        encode_dataset("cifar10", **{**kw, "vae": Interrupting(vae, 4)})
    lat_dir = root / "cifar10" / "latents"
    assert json.loads((lat_dir / "progress.json").read_text())["done"] == 4
    assert not (lat_dir / "manifest.json").exists()
    with pytest.raises(Exception, match="repro data encode cifar10"):
        load_latents("cifar10", root)
    counting = Interrupting(vae, 0)
    encode_dataset("cifar10", **{**kw, "vae": counting})
    assert counting.calls == 3                      # resumed at row 4: batches 3, 4, 5
    lat, _, stats, m = load_latents("cifar10", root)
    np.testing.assert_array_equal(lat, ref)         # same bytes as the uninterrupted run
    assert lat.shape == (10, 4, 16, 16) and m["key"]["vae_sha256"] == "tiny"
    np.testing.assert_allclose(stats["mean"], (ref / 0.18215).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["std"], (ref / 0.18215).std(0), rtol=1e-4, atol=1e-5)
    assert not (lat_dir / "progress.json").exists()
    # again: no-op
    assert encode_dataset("cifar10", **{**kw, "vae": Interrupting(vae, 1)}) == lat_dir

    spec = DataSpec("cifar10", resolution=32, latent=True)
    with pytest.raises(Exception, match="wants"):
        open_train_set(spec, root=root)             # tiny VAE gives 16×16, the row wants 4×4
    ds = open_train_set(DataSpec("cifar10", resolution=128, latent=True), root=root)
    x, y = ds.batch(torch.arange(10))
    assert y is None and x.shape == (10, 4, 16, 16)
    np.testing.assert_allclose(x.mean(0).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0, unbiased=False).numpy(), 0.5, rtol=1e-3)
    imgs = ds.decode(x[:3], vae=vae, batch_size=2)
    assert imgs.shape == (3, 32, 32, 3) and imgs.dtype == torch.uint8
    z = torch.from_numpy(ref[:3]) / 0.18215
    with torch.no_grad():
        direct = vae.decode(z).sample
    # decode ran in batches of 2, the direct call on 3: other conv kernels, so a pixel within
    # rounding of a .5 boundary may round either way: one uint8 step, never more
    np.testing.assert_allclose(imgs.float().numpy(),
                               ((direct + 1) * 127.5).round().clamp(0, 255)
                               .permute(0, 2, 3, 1).numpy(), atol=1.0)
    raw = open_train_set(DataSpec("cifar10", resolution=128, latent=True, latent_norm=False),
                         root=root)
    assert torch.equal(raw.batch(torch.arange(2))[0], torch.from_numpy(ref[:2]))
    with pytest.raises(Exception, match="with-flips"):
        ds.batch(torch.arange(2), flip_mask=torch.tensor([True, False]))


def test_encode_with_flips(prepared):
    vae = build_vae(TINY_VAE_CONFIG)
    encode_dataset("cifar10", root=prepared, batch_size=4, vae=vae, with_flips=True,
                   progress=False)
    lat, _, _, m = load_latents("cifar10", prepared)
    assert lat.shape[0] == 20 and m["key"]["with_flips"]
