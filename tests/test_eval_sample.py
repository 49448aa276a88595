"""Deterministic sampling, uint8 conversion, JPEG round trip, grid."""
import numpy as np
import pytest
import torch
from PIL import Image

from helpers.eval_fakes import toy_f
from repro.eval.grid import make_grid, save_grid
from repro.eval.sample import jpeg_roundtrip, sample_batches, sample_noise, sample_seed, to_uint8

SHAPE = (3, 8, 8)


def _all(num, bs, sigmas, seed=42, start=0):
    return torch.cat(list(sample_batches(toy_f, num, bs, SHAPE, sigmas, seed, start=start)))


@pytest.mark.parametrize("sigmas", [(80.0,), (80.0, 0.821), (80.0, 2.0, 0.5)])
def test_sample_i_independent_of_batching(sigmas):
    a = _all(11, 11, sigmas)
    b = _all(11, 3, sigmas)
    c = _all(5, 2, sigmas, start=6)          # a shard starting at sample 6
    assert a.shape == (11,) + SHAPE
    assert torch.equal(a, b) and torch.equal(a[6:], c)
    assert not torch.equal(a, _all(11, 11, sigmas, seed=43))


def test_multistep_uses_per_sample_noise():
    from repro.core.samplers import multistep
    x = _all(4, 4, (80.0, 0.821))
    z = [sample_noise(i, SHAPE, 1, 42) for i in range(4)]
    ref = multistep(toy_f, torch.stack([p[0] for p in z]), [80.0, 0.821], 0.002,
                    noise=[torch.stack([p[1] for p in z])])
    assert torch.equal(x, ref)
    assert sample_seed(42, 0) != sample_seed(42, 1) != sample_seed(43, 0)


def test_to_uint8():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    u = to_uint8(x)
    assert u.shape == (1, 1, 6, 3) and u.dtype == torch.uint8
    assert u[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255, 255]    # 127.5 rounds half to even → 128
    assert to_uint8(x, "floor")[0, 0, :, 0].tolist() == [0, 0, 127, 254, 255, 255]
    real = torch.randint(0, 256, (2, 4, 4, 3), dtype=torch.uint8)
    model = real.permute(0, 3, 1, 2).float() / 127.5 - 1          # the data pipeline's mapping
    assert torch.equal(to_uint8(model), real)                       # lossless round trip


def test_jpeg_roundtrip_is_pil_default_quality(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    y = jpeg_roundtrip(x)
    Image.fromarray(x[1]).save(tmp_path / "a.jpg")                  # PIL default quality
    assert y.shape == x.shape and not np.array_equal(x, y)
    assert np.array_equal(y[1], np.asarray(Image.open(tmp_path / "a.jpg")))


def test_grid(tmp_path):
    imgs = np.full((10, 4, 5, 3), 200, np.uint8)
    g = make_grid(imgs, nrow=4, pad=1)
    assert g.shape == (3 * 5 + 1, 4 * 6 + 1, 3)
    save_grid(imgs, tmp_path / "g.png", nrow=4)
    assert Image.open(tmp_path / "g.png").size == (4 * 7 + 2, 3 * 6 + 2)
    save_grid(np.zeros((3, 4, 4, 1), np.uint8), tmp_path / "grey.png")
    assert Image.open(tmp_path / "grey.png").mode == "L"


def test_grid_tiles_padding_and_upscaling(tmp_path):
    imgs = np.random.default_rng(0).integers(1, 256, (5, 4, 3, 3), dtype=np.uint8)
    g = make_grid(imgs, nrow=2, pad=2)
    assert g.shape == (3 * 6 + 2, 2 * 5 + 2, 3) and g.dtype == np.uint8
    for i in range(5):                                  # row-major, each tile behind its border
        r, q = divmod(i, 2)
        assert np.array_equal(g[2 + 6 * r:6 + 6 * r, 2 + 5 * q:5 + 5 * q], imgs[i])
    assert not g[:2].any() and not g[:, :2].any() and not g[14:, 7:].any()   # border, empty slot
    one = make_grid(imgs[:1], pad=1)                    # a lone image keeps its border too
    assert one.shape == (6, 5, 3) and np.array_equal(one[1:5, 1:4], imgs[0]) and not one[0].any()
    save_grid(imgs[:, :, :, :1], tmp_path / "big.png", nrow=2, pad=2, min_tile=32)   # 4 px -> x8
    big = np.asarray(Image.open(tmp_path / "big.png"))
    assert big.shape == (8 * 20, 8 * 12)
    assert np.array_equal(big[16:48:8, 16:40:8], imgs[0, :, :, 0])
