"""Readers for image releases: a folder of PNG/JPG (CelebA-HQ, FFHQ) and the LSUN LMDB export.

Same `Source` protocol as readers_arrays. Folder images must already be res×res RGB (we never
silently resample a face dataset). LSUN images come in assorted sizes; they get the usual LSUN
treatment, ADM's `center_crop_arr`: halve with a BOX filter while the short side is ≥ 2·res,
resize bicubically so the short side is res, then take the central res×res crop.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from repro.io import ReproError

from .readers_arrays import Source

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
CHUNK = 256


def center_crop_arr(img: Image.Image, res: int) -> np.ndarray:
    while min(*img.size) >= 2 * res:
        img = img.resize(tuple(x // 2 for x in img.size), resample=Image.BOX)
    scale = res / min(*img.size)
    img = img.resize(tuple(round(x * scale) for x in img.size), resample=Image.BICUBIC)
    arr = np.asarray(img)
    top, left = (arr.shape[0] - res) // 2, (arr.shape[1] - res) // 2
    return arr[top:top + res, left:left + res]


def _decode(data, where: str, res: int, crop: bool) -> np.ndarray:
    try:
        img = Image.open(data if not isinstance(data, bytes) else io.BytesIO(data))
        if not crop and img.size != (res, res):    # refuse before decoding: the header tells
            raise ReproError(f"{where}: size {img.size[0]}x{img.size[1]}, expected {res}x{res}; "
                             f"resize the release to {res}x{res} first")
        img.load()                     # force the full decode so truncation shows up here
    except Image.DecompressionBombError as e:
        raise ReproError(f"{where}: image too large to decode safely ({str(e)[:120]}); "
                         f"remove it or resize it and re-run prepare") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ReproError(f"{where}: corrupt or truncated image ({str(e)[:120]}); "
                         f"replace or remove it and re-run prepare") from None
    if crop:
        return center_crop_arr(img.convert("RGB"), res)
    if img.mode != "RGB":
        raise ReproError(f"{where}: mode {img.mode}, expected RGB; convert the folder to RGB")
    if img.size != (res, res):
        raise ReproError(f"{where}: size {img.size[0]}x{img.size[1]}, expected {res}x{res}; "
                         f"resize the release to {res}x{res} first")
    return np.asarray(img)


def folder(src: Path, res: int, crop: bool = False) -> Source:
    src = Path(src)
    if not src.is_dir():
        raise ReproError(f"{src}: no such directory; point --src at the image folder")
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ReproError(f"{src}: no .png/.jpg/.webp images found")
    listing = [(str(p.relative_to(src)), p.stat().st_size) for p in files]

    def chunks():
        for i in range(0, len(files), CHUNK):
            yield np.stack([_decode(p, str(p), res, crop) for p in files[i:i + CHUNK]])

    return Source(len(files), None, listing, [], chunks)


def lsun(src: Path, res: int) -> Source:
    """LSUN `*_lmdb` export (keys → webp/jpeg bytes), iterated in key order; or a folder."""
    src = Path(src)
    if not (src / "data.mdb").is_file():
        return folder(src, res, crop=True)
    import lmdb
    try:
        env = lmdb.open(str(src), readonly=True, lock=False, readahead=False, subdir=True,
                        max_readers=1)
        count = env.stat()["entries"]
    except lmdb.Error as e:
        raise ReproError(f"{src / 'data.mdb'}: unreadable LMDB ({str(e)[:120]}); "
                         f"re-extract the LSUN export") from None
    listing = [("data.mdb", (src / "data.mdb").stat().st_size), ("entries", count)]

    def chunks():
        buf = []
        try:
            with env.begin(write=False) as txn:
                for key, value in txn.cursor():
                    buf.append(_decode(bytes(value), f"{src}[{key.decode(errors='replace')}]",
                                       res, crop=True))
                    if len(buf) == CHUNK:
                        yield np.stack(buf)
                        buf = []
        except lmdb.Error as e:
            raise ReproError(f"{src / 'data.mdb'}: LMDB read failed ({str(e)[:120]}); "
                             f"re-extract the LSUN export") from None
        if buf:
            yield np.stack(buf)

    return Source(count, None, listing, [], chunks)
