"""Streaming FID features: the host work of each batch (JPEG round trip, clean-fid's resize)
runs on worker threads fed through a bounded queue, so it overlaps sampling and the feature
network instead of following them.

The result is bit for bit what `repro.eval.fid.cleanfid_features` (clean-fid's own
`get_model_features` loop) returns for the same images: the batches are cut and zero-padded the
same way, each image goes through clean-fid's `build_resizer(mode)` function on the same float32
values, and the extractor sees the same batches in the same order
(tests/test_eval_stream.py). Only where the work runs changes.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numpy as np
import torch

from repro.io import ReproError

from .fid import _CLEANFID_MODE, MODES, FeatureExtractor

# Host threads for JPEG + resize (benchmarks/eval_pipeline.py measures what they buy).
HOST_WORKERS = 2


def _chunks(batches: Iterable, num: int, batch_size: int):
    """(images uint8 NHWC of <= batch_size, as decoded) cut from the stream, num images in all."""
    buf, have, given = [], 0, 0
    for b in batches:
        b = b.detach().cpu().numpy() if torch.is_tensor(b) else np.asarray(b)
        if b.dtype != np.uint8 or b.ndim != 4:
            raise ValueError(f"expected uint8 NHWC image batches, got {b.dtype} {b.shape}")
        buf.append(b)
        have += len(b)
        while have >= batch_size and given < num:
            cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
            yield cat[:batch_size]
            given += batch_size
            rest = cat[batch_size:]
            buf, have = ([rest], len(rest)) if len(rest) else ([], 0)
        if given >= num:
            return
    if have and given < num:
        yield np.concatenate(buf) if len(buf) > 1 else buf[0]
        given += have
    if given < num:
        raise ReproError(f"image stream ended after {given} images, {num} asked")


def _host_batch(imgs: np.ndarray, batch_size: int, jpeg: bool, resize) -> torch.Tensor:
    """One extractor batch as clean-fid builds it: (JPEG), RGB, zero padding, per-image resize."""
    if jpeg:
        from .sample import jpeg_roundtrip
        imgs = jpeg_roundtrip(imgs)
    if imgs.shape[-1] == 1:          # grey -> RGB, as repro.eval.fid._as_nhwc_uint8
        imgs = np.repeat(imgs, 3, axis=-1)
    if len(imgs) < batch_size:       # clean-fid indexes a full batch; the padding is cut later
        imgs = np.concatenate([imgs, np.zeros((batch_size - len(imgs),) + imgs.shape[1:], np.uint8)])
    if resize is None:               # legacy_tensorflow / native: the network resizes
        return torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float()
    out = [torch.tensor(resize(im.astype(np.float32)).transpose((2, 0, 1))).unsqueeze(0) for im in imgs]
    return torch.cat(out, dim=0)


def streamed_features(batches: Iterable, num: int, extractor: FeatureExtractor, batch_size: int = 64,
                      device="cpu", mode=None, jpeg: bool = False, workers: int = HOST_WORKERS,
                      depth: int | None = None) -> np.ndarray:
    """Features (num, D) float32 of the first `num` images of `batches` (uint8 NHWC arrays).

    jpeg: JPEG round trip each image first (EvalSpec.gen_format='jpg'). workers: host threads
    for JPEG + resize; depth: batches in flight (default 2 per worker), which bounds memory.
    The caller's iteration of `batches` (sampling + decode) runs on this thread; the feature
    network runs on another, in order.
    """
    from cleanfid.resize import build_resizer

    mode = mode or extractor.mode
    if mode not in MODES:
        raise ReproError(f"fid_mode {mode!r}: unknown; choose one of {', '.join(MODES)}")
    cf_mode = _CLEANFID_MODE[mode]
    resize = None if cf_mode == "legacy_tensorflow" else build_resizer(cf_mode)
    workers = max(int(workers), 1)
    pending: queue.Queue = queue.Queue(maxsize=depth or 2 * workers)
    feats: list = []
    failed: list = []
    dev = torch.device(device)

    def consume():
        try:
            while True:
                fut = pending.get()
                if fut is None:
                    return
                x = fut.result()
                with torch.no_grad():
                    feats.append(extractor.fn(x.to(dev)).detach().cpu().numpy())
        except BaseException as e:      # handed to the producer, which re-raises it
            failed.append(e)
            while pending.get() is not None:    # drain, so the producer never blocks forever
                pass

    consumer = threading.Thread(target=consume, name="fid-features", daemon=True)
    consumer.start()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fid-host") as pool:
            try:
                for imgs in _chunks(batches, num, batch_size):
                    if failed:
                        break
                    pending.put(pool.submit(_host_batch, imgs, batch_size, jpeg, resize))
            finally:
                pending.put(None)
                consumer.join()
    finally:
        if consumer.is_alive():
            consumer.join()
    if failed:
        raise failed[0]
    return np.concatenate(feats)[:num]
