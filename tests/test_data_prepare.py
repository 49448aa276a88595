"""Tiny datasets in each real release format → `repro data prepare` → load; bad inputs fail cleanly."""
import json
import pickle

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import write_cifar, write_folder, write_lmdb, write_npz
from repro.cli import main
from repro.data.prepare import load_prepared, prepare
from repro.io import ReproError


def test_cifar_via_cli(tmp_path, capsys):
    src = write_cifar(tmp_path / "cifar-10-batches-py", n=5, batches=(1, 2))
    root = tmp_path / "data"
    rc = main(["data", "prepare", "cifar10", "--src", str(tmp_path), "--root", str(root),
               "--allow-count-mismatch", "--no-progress"])
    assert rc == 0
    images, labels, m = load_prepared("cifar10", root)
    assert images.shape == (10, 32, 32, 3) and m["count"] == 10 and not m["standard"]
    assert any("md5" in p for p in m["problems"])
    with open(src / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"]
    np.testing.assert_array_equal(images[0], raw[0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert labels.tolist() == [0, 1, 2, 3, 4] * 2
    # re-run is a no-op: the array file is not rewritten
    mtime = (root / "cifar10" / "images.npy").stat().st_mtime_ns
    assert main(["data", "prepare", "cifar10", "--src", str(src), "--root", str(root),
                 "--allow-count-mismatch", "--no-progress"]) == 0
    assert (root / "cifar10" / "images.npy").stat().st_mtime_ns == mtime


def test_nonstandard_refused_without_flag(tmp_path, capsys):
    src = write_cifar(tmp_path / "c")
    rc = main(["data", "prepare", "cifar10", "--src", str(src), "--root", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "not the standard cifar10 release" in err and "--allow-nonstandard" in err
    assert not (tmp_path / "d" / "cifar10").exists()


def test_cifar_refuses_foreign_pickle(tmp_path):
    src = tmp_path / "c"
    src.mkdir()
    with open(src / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros(3).__class__, b"x": Image.new}, f)  # globals: refused
    with pytest.raises(ReproError, match="not a readable CIFAR-10 batch"):
        prepare("cifar10", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    assert not (tmp_path / "d" / "cifar10").exists()


def test_cifar_truncated(tmp_path):
    src = write_cifar(tmp_path / "c")
    p = src / "data_batch_1"
    p.write_bytes(p.read_bytes()[:500])
    with pytest.raises(ReproError, match="data_batch_1"):
        prepare("cifar10", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    assert not (tmp_path / "d" / "cifar10").exists()


def test_imagenet64_npz(tmp_path):
    src = write_npz(tmp_path / "in64", sizes=(3, 2))
    dest = prepare("imagenet64", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    images, labels, m = load_prepared("imagenet64", tmp_path / "d")
    assert images.shape == (5, 64, 64, 3) and labels.tolist() == [0, 1, 2, 0, 1]
    assert any("missing train_data_batch_3" in p for p in m["problems"])
    raw = np.load(src / "train_data_batch_2.npz")["data"][1]
    np.testing.assert_array_equal(images[4], raw.reshape(3, 64, 64).transpose(1, 2, 0))
    assert (dest / "manifest.json").is_file()


def test_imagenet64_wrong_shape_leaves_nothing(tmp_path):
    src = write_npz(tmp_path / "in64", sizes=(2,))
    np.savez(src / "train_data_batch_2.npz", data=np.zeros((2, 100), np.uint8),
             labels=np.array([1, 2]))
    with pytest.raises(ReproError, match=r"train_data_batch_2.npz: 'data' must be uint8"):
        prepare("imagenet64", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    assert not (tmp_path / "d" / "imagenet64").exists()
    assert not list((tmp_path / "d").glob(".imagenet64.tmp-*"))


def test_folder_png_jpg(tmp_path):
    src = write_folder(tmp_path / "ffhq", n=3)
    write_folder(tmp_path / "ffhq" / "sub", n=1, ext="jpg")
    prepare("ffhq256", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    images, labels, m = load_prepared("ffhq256", tmp_path / "d")
    assert images.shape == (4, 256, 256, 3) and labels is None and m["source_files"] == 4
    np.testing.assert_array_equal(images[0], np.asarray(Image.open(src / "00000.png")))


@pytest.mark.parametrize("bad,match", [
    ("size", "size 128x128, expected 256x256"),
    ("mode", "mode L, expected RGB"),
    ("truncated", "corrupt or truncated image"),
])
def test_folder_bad_images(tmp_path, bad, match):
    src = write_folder(tmp_path / "celeba", n=2)
    if bad == "size":
        write_folder(src, n=1, size=128, ext="jpg")
    elif bad == "mode":
        Image.new("L", (256, 256)).save(src / "zz.png")
    else:
        p = src / "00001.png"
        p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ReproError, match=match) as e:
        prepare("celebahq256", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "d" / "celebahq256").exists()


def test_missing_source(tmp_path, capsys):
    rc = main(["data", "prepare", "ffhq256", "--src", str(tmp_path / "nope"),
               "--root", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 2 and "no such file or directory" in err and str(tmp_path / "nope") in err


def test_lsun_lmdb_center_crop(tmp_path):
    src = write_lmdb(tmp_path / "church_outdoor_train_lmdb")
    prepare("lsun_church256", src, root=tmp_path / "d", allow_nonstandard=True, progress=False)
    images, _, m = load_prepared("lsun_church256", tmp_path / "d")
    assert images.shape == (3, 256, 256, 3) and m["source_files"] == 2


def test_reprepare_replaces_changed_source(tmp_path):
    src = write_folder(tmp_path / "f", n=2)
    root = tmp_path / "d"
    prepare("ffhq256", src, root=root, allow_nonstandard=True, progress=False)
    write_folder(tmp_path / "f" / "more", n=1)
    prepare("ffhq256", src, root=root, allow_nonstandard=True, progress=False)
    m = json.loads((root / "ffhq256" / "manifest.json").read_text())
    assert m["count"] == 3 and [p.name for p in root.iterdir()] == ["ffhq256"]


def test_unprepared_dataset_message(tmp_path):
    with pytest.raises(ReproError, match="repro data prepare cifar10 --src PATH"):
        load_prepared("cifar10", tmp_path)
