"""Tiny source datasets in each real release format, for `repro data prepare` and the readers."""
import io
import pickle

import lmdb
import numpy as np
from PIL import Image


def write_cifar(d, n=4, batches=(1,)):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for b in batches:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        with open(d / f"data_batch_{b}", "wb") as f:
            pickle.dump({b"data": data, b"labels": [i % 10 for i in range(n)],
                         b"batch_label": b"training batch"}, f, protocol=2)
    return d


def write_npz(d, sizes=(3, 2)):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i, n in enumerate(sizes, 1):
        np.savez(d / f"train_data_batch_{i}.npz",
                 data=rng.integers(0, 256, size=(n, 12288), dtype=np.uint8),
                 labels=np.arange(1, n + 1), mean=np.zeros(12288))
    return d


def write_folder(d, n=3, size=256, mode="RGB", ext="png"):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for i in range(n):
        arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(d / f"{i:05d}.{ext}")
    return d


def write_lmdb(d, sizes=((300, 400), (256, 320), (512, 256))):
    d.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(d), map_size=1 << 26)
    rng = np.random.default_rng(3)
    with env.begin(write=True) as txn:
        for i, (w, h) in enumerate(sizes):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(buf, "webp")
            txn.put(f"{i:08x}".encode(), buf.getvalue())
    env.close()
    return d
