"""open_train_set: built-in sets, prepared pixel sets, limit, flips, labels, prefetch."""
import numpy as np
import pytest
import torch

from repro.data import digits_split, open_train_set
from repro.data.prefetch import prefetch
from repro.data.prepare import prepare
from repro.io import ReproError
from repro.specs import DataSpec

from helpers.datasets import write_cifar, write_folder


def test_digits_split_fixed():
    tr, ho = digits_split()
    assert tr.shape == (1297, 8, 8) and ho.shape == (500, 8, 8) and tr.dtype == np.uint8
    assert tr.max() == 16 and tr.min() == 0
    tr2, _ = digits_split()
    np.testing.assert_array_equal(tr, tr2)


def test_digits_set():
    ds = open_train_set(DataSpec("digits", resolution=8, channels=1, num_classes=10))
    assert len(ds) == 1297 and ds.shape == (1, 8, 8)
    x, y = ds.batch(torch.tensor([0, 5, 1]))
    assert x.shape == (3, 1, 8, 8) and x.dtype == torch.float32 and y.shape == (3,)
    assert x.min() >= -1 and x.max() <= 1
    tr, _ = digits_split()
    np.testing.assert_allclose(x[1, 0].numpy(), tr[5] / 8.0 - 1.0)
    img = ds.decode(x)
    assert img.shape == (3, 8, 8, 1) and img.dtype == torch.uint8


@pytest.mark.parametrize("latent", [False, True])
def test_synthetic(latent):
    spec = DataSpec("synthetic", resolution=256 if latent else 32, latent=latent, limit=10,
                    num_classes=3)
    ds = open_train_set(spec)
    assert len(ds) == 10 and ds.shape == ((4, 32, 32) if latent else (3, 32, 32))
    x, y = ds.batch(torch.arange(10))
    x2, _ = open_train_set(spec).batch(torch.arange(10))
    assert torch.equal(x, x2) and y.max() < 3
    assert len(open_train_set(DataSpec("synthetic", resolution=32))) == 64


def test_prepared_pixels_roundtrip(tmp_path):
    src = write_cifar(tmp_path / "c", n=6)
    prepare("cifar10", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    spec = DataSpec("cifar10", resolution=32, num_classes=10)
    ds = open_train_set(spec, root=tmp_path / "d")
    assert len(ds) == 6 and ds.shape == (3, 32, 32)
    idx = torch.tensor([5, 0, 3, 3])
    x, y = ds.batch(idx)
    assert y.tolist() == [5, 0, 3, 3] and x.min() >= -1 and x.max() <= 1
    img = ds.decode(x)
    from repro.data.prepare import load_prepared
    images, _, _ = load_prepared("cifar10", tmp_path / "d")
    np.testing.assert_array_equal(img.numpy(), images[idx.numpy()])
    xf, _ = ds.batch(idx, flip_mask=torch.tensor([True, False, False, False]))
    assert torch.equal(xf[0], x[0].flip(-1)) and torch.equal(xf[1:], x[1:])
    # unconditional rows get no labels; limit caps the count
    ds2 = open_train_set(DataSpec("cifar10", resolution=32, limit=2), root=tmp_path / "d")
    assert len(ds2) == 2 and ds2.batch(torch.tensor([1]))[1] is None
    with pytest.raises(IndexError):
        ds2.batch(torch.tensor([2]))


def test_wrong_resolution_and_missing(tmp_path):
    src = write_folder(tmp_path / "f", n=1)
    prepare("ffhq256", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    with pytest.raises(ReproError, match="wants 128x128x3"):
        open_train_set(DataSpec("ffhq256", resolution=128), root=tmp_path / "d")
    with pytest.raises(ReproError, match="repro data encode ffhq256"):
        open_train_set(DataSpec("ffhq256", resolution=256, latent=True), root=tmp_path / "d")


def test_prefetch_matches_direct():
    ds = open_train_set(DataSpec("synthetic", resolution=16, limit=40))
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 40, (8,), generator=g) for _ in range(5)]
    got = list(prefetch(ds, batches))
    assert len(got) == 5
    for (x, _), idx in zip(got, batches):
        assert torch.equal(x, ds.batch(idx)[0])
    bad = [torch.tensor([0]), torch.tensor([99])]
    with pytest.raises(IndexError):
        list(prefetch(ds, bad))
