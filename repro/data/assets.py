"""Downloaded assets: one cache dir ($REPRO_CACHE), filled by `repro fetch`, read offline.

Only `fetch` touches the network. Everything else calls `require_asset(name)`, which returns
the cached path or raises a one-line ReproError naming the file, where it looked and the
command that gets it. clean-fid's own loaders would download; repro/eval/fid.py builds its
feature extractors from these cached files instead.

A download goes to `<target>.part` (with `<target>.part.json`: the URL and the server's
validator) and resumes from there with an HTTP Range request; the target appears, by rename,
only once the whole file is there and its sha256 checks out. Assets whose publisher states no
hash are pinned on first fetch in `$REPRO_CACHE/manifest.json`, and later fetches and copies
are checked against that.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from repro.io import ReproError, atomic_write_json, promote_file, sha256_file

from .paths import cache_root

HF_VAE = "https://huggingface.co/stabilityai/sd-vae-ft-ema/resolve/main"
NV_METRICS = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics"
CLEANFID_STATS = "https://www.cs.cmu.edu/~clean-fid/stats"


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    rel: str                     # path under REPRO_CACHE
    group: str                   # `--only` also accepts the group name
    sha256: str = ""             # full hash where the publisher states one
    sha256_prefix: str = ""      # checked after download where the publisher states it
    size: int = 0                # bytes where known; else the server's Content-Length
    what: str = ""


ASSETS = {a.name: a for a in [
    Asset("vae-config", f"{HF_VAE}/config.json", "vae/sd-vae-ft-ema/config.json", "vae",
          what="SD VAE (sLCT latents) configuration"),
    Asset("vae-weights", f"{HF_VAE}/diffusion_pytorch_model.safetensors",
          "vae/sd-vae-ft-ema/diffusion_pytorch_model.safetensors", "vae",
          what="SD VAE weights"),
    Asset("inception-torchscript", f"{NV_METRICS}/inception-2015-12-05.pt",
          "inception/inception-2015-12-05.pt", "inception",
          what="clean-fid Inception (modes clean, legacy_tensorflow)"),
    Asset("inception-pytorch", "https://github.com/mseitzer/pytorch-fid/releases/download/"
          "fid_weights/pt_inception-2015-12-05-6726825d.pth",
          "inception/pt_inception-2015-12-05-6726825d.pth", "inception",
          sha256_prefix="6726825d",   # torch.hub's convention: the name carries the prefix
          what="pytorch-fid Inception (clean-fid mode legacy_pytorch)"),
    Asset("vgg16", f"{NV_METRICS}/vgg16.pt", "vgg16/vgg16.pt", "vgg16",
          what="StyleGAN2-ADA VGG16 for precision/recall"),
    Asset("elatentlpips-sd15", "https://huggingface.co/Mingguksky/elatentlpips/resolve/main/"
          "elatentlpips_ckpt/sd15_latest_vgg16_tuned.pth", "elatentlpips/sd15_latest_vgg16_tuned.pth",
          "elatentlpips", what="E-LatentLPIPS (sLCT Table 2c): latent VGG16-BN + linear heads, SD1.5"),
    Asset("ref-cifar10-train", f"{CLEANFID_STATS}/cifar10_legacy_tensorflow_train_32.npz",
          "stats/cifar10_legacy_tensorflow_train_32.npz", "stats",
          what="clean-fid CIFAR-10 train statistics (legacy_tensorflow)"),
    Asset("ref-imagenet64-adm", "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
          "ref_batches/imagenet/64/VIRTUAL_imagenet64_labeled.npz",
          "stats/VIRTUAL_imagenet64_labeled.npz", "stats",
          what="ADM evaluator reference batch for ImageNet 64"),
]}


def asset_path(name: str, cache=None) -> Path:
    if name not in ASSETS:
        raise ReproError(f"asset {name!r}: unknown; known: {', '.join(ASSETS)}")
    return cache_root(cache) / ASSETS[name].rel


def require_asset(name: str, cache=None) -> Path:
    p = asset_path(name, cache)
    if not p.is_file():
        raise ReproError(f"{p.name}: missing from the asset cache (looked for {p}); on a "
                         f"machine with internet run `REPRO_CACHE={cache_root(cache)} "
                         f"repro fetch --only {name}` and copy the cache over")
    return p


def select(only=None) -> list:
    if not only:
        return list(ASSETS.values())
    chosen = [a for a in ASSETS.values() if a.name == only or a.group == only]
    if not chosen:
        groups = sorted({a.group for a in ASSETS.values()})
        raise ReproError(f"--only {only}: no such asset; choose from "
                         f"{', '.join(list(ASSETS) + groups)}")
    return chosen


MANIFEST = "manifest.json"
BLOCK = 1 << 20


def fetch(only=None, cache=None, dry_run: bool = False, out=None, progress: bool = True) -> list:
    """Download the selected assets that are not cached yet and check every one's sha256.

    Returns their paths. A failed asset does not stop the others; the first failure is raised
    (one line) after all were tried, and a cut download stays as `.part` for the next run.
    """
    out = out or sys.stdout
    progress = progress and os.environ.get("REPRO_NO_PROGRESS") != "1"
    root = cache_root(cache)
    manifest = _load_manifest(root)
    paths, errors = [], []
    for a in select(only):
        dest = root / a.rel
        part = _part(dest)
        entry = manifest.get(a.rel, {})
        if dest.is_file():
            state, size = "cached", dest.stat().st_size
        else:
            state = "partial" if part.is_file() else "missing"
            size = a.size or entry.get("size") or 0
        print(f"{a.name:24s} {state:8s} {_human(size) if size else 'size ?':>9s}  {a.url} -> {dest}",
              file=out)
        paths.append(dest)
        if dry_run:
            continue
        try:
            if dest.is_file() and _check_cached(a, dest, root, manifest, out):
                continue
            digest, source = _download(a, dest, root, manifest, progress, out)
            _remember(root, manifest, a, dest, digest, source)
            _say_checked(a, digest, source, root, out)
        except ReproError as e:
            print("  failed (reported at the end)", file=out)
            errors.append(str(e))
        except (OSError, http.client.HTTPException) as e:
            print("  failed (reported at the end)", file=out)
            errors.append(f"{a.url}: download failed ({str(e)[:120]}); any partial download is "
                          f"kept in {part}; re-run `repro fetch` (it resumes) on a machine with "
                          f"internet")
    if errors:
        # One line each; the first becomes the command's error line, so none is printed twice.
        for e in errors[1:]:
            print(f"error: {e}", file=sys.stderr)
        more = f" (and {len(errors) - 1} more failed, listed above)" if len(errors) > 1 else ""
        raise ReproError(errors[0] + more)
    return paths


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _human(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if round(n, 1) < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


# ----------------------------------------------------------------------------- manifest

def _load_manifest(root: Path) -> dict:
    import json

    p = root / MANIFEST
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
        return dict(data["assets"])
    except (ValueError, KeyError, TypeError) as e:
        raise ReproError(f"{p}: unreadable asset manifest ({type(e).__name__}); move it away and "
                         f"re-run `repro fetch` (it hashes the cached files again)") from None


def _remember(root: Path, manifest: dict, a: Asset, dest: Path, digest: str, source: str) -> None:
    st = dest.stat()
    manifest[a.rel] = {"name": a.name, "url": a.url, "sha256": digest, "size": st.st_size,
                       "mtime_ns": st.st_mtime_ns, "hash_source": source,
                       "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(root / MANIFEST, {"version": 1, "assets": manifest})


def _expected(a: Asset, manifest: dict):
    """(hash or prefix to match, where it comes from), or (None, None) on a first fetch."""
    if a.sha256:
        return a.sha256, "published"
    if a.sha256_prefix:
        return a.sha256_prefix, "published prefix"
    pinned = manifest.get(a.rel, {}).get("sha256")
    if pinned:
        return pinned, "manifest"
    return None, None


def _mismatch(path: Path, a: Asset, want: str, got: str, source: str, root: Path, fate: str) -> str:
    fix = (f"if the publisher changed the file on purpose, delete the '{a.rel}' entry of "
           f"{root / MANIFEST} and re-run" if source == "manifest" else "re-run to download it again")
    return (f"{path.name}: sha256 mismatch: expected {want}{'…' if len(want) < 64 else ''}, "
            f"got {got}; {fate}; {fix} (`repro fetch --only {a.name}`)")


def _say_checked(a: Asset, digest: str, source: str, root: Path, out) -> None:
    if source == "first fetch":
        print(f"  sha256 {digest} recorded in {root / MANIFEST} (first fetch: the publisher "
              f"states no hash; later fetches are checked against this one)", file=out)
    else:
        print(f"  sha256 ok ({source})", file=out)


def _check_cached(a: Asset, dest: Path, root: Path, manifest: dict, out) -> bool:
    """True if the cached file is good. A bad one is set aside as `.corrupt` (False: fetch again)."""
    want, source = _expected(a, manifest)
    entry = manifest.get(a.rel, {})
    st = dest.stat()
    # Unchanged since we hashed it (same size and mtime): skip re-reading gigabytes on every run.
    if (entry.get("sha256") and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns and want and entry["sha256"].startswith(want)):
        print(f"  sha256 ok ({source}; unchanged since {entry.get('recorded', '?')})", file=out)
        return True
    got = sha256_file(dest)
    if want is None or got.startswith(want):
        source = source if want else "first fetch"
        _remember(root, manifest, a, dest, got, source)
        _say_checked(a, got, source, root, out)
        return True
    aside = dest.with_name(dest.name + ".corrupt")
    os.replace(dest, aside)
    print("  error: " + _mismatch(dest, a, want, got, source, root, f"set aside as {aside}"),
          file=sys.stderr)
    return False


# ----------------------------------------------------------------------------- download

def _download(a: Asset, dest: Path, root: Path, manifest: dict, progress: bool, out):
    """Fetch into `.part` (resuming), check the hash, rename onto `dest`: (sha256, source)."""
    want, source = _expected(a, manifest)
    part, meta = _part(dest), _part_meta(dest)
    digest, resumed_at = _transfer(a, part, meta, progress, out)
    if want and not digest.startswith(want) and resumed_at:
        # The bytes from before the resume may belong to another version of the file.
        print(f"  sha256 mismatch after resuming at byte {resumed_at}; downloading again "
              f"from the start", file=out)
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        digest, _ = _transfer(a, part, meta, progress, out)
    if want and not digest.startswith(want):
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise ReproError(_mismatch(dest, a, want, digest, source, root, "the download was removed"))
    promote_file(part, dest)
    meta.unlink(missing_ok=True)
    return digest, source or "first fetch"


def _transfer(a: Asset, part: Path, meta: Path, progress: bool, out):
    """Bring `part` to the whole file; returns (sha256 of it, byte it resumed at or 0)."""
    import json

    info = {}
    if part.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
        except ValueError:
            info = {}
    offset = part.stat().st_size if part.is_file() else 0
    # A partial file is only trusted when we know it came from this very URL and is not longer
    # than the file; otherwise start over.
    if offset and (info.get("url") != a.url or (a.size and offset > a.size)
                   or (info.get("total") and offset > info["total"])):
        print(f"  partial download {part.name} does not match {a.url} (other source, or longer "
              f"than the file); starting over", file=out)
        offset = 0
    asked = offset
    r, offset, total = _open(a, offset, info)
    if asked and r is not None and not offset:
        print(f"  cannot resume {part.name} (the server ignores ranges, or the file changed); "
              f"starting over", file=out)
    if r is None:                                       # 416 on a part that is already whole
        print(f"  {part.name} is already complete ({_human(offset)})", file=out)
        return sha256_file(part), offset
    with r:
        validator = r.headers.get("ETag") or r.headers.get("Last-Modified")
        if validator and validator.startswith("W/"):    # weak ETags are not allowed in If-Range
            validator = r.headers.get("Last-Modified")
        atomic_write_json(meta, {"url": a.url, "validator": validator, "total": total})
        if a.size and total and total != a.size:
            print(f"  note: the server announces {total} bytes, the asset table {a.size}", file=out)
        size_txt = _human(total) if total else "size unknown (no Content-Length)"
        print(f"  resuming at {_human(offset)} of {size_txt}" if offset else f"  download {size_txt}",
              file=out)
        h = hashlib.sha256()
        if offset:
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(BLOCK), b""):
                    h.update(block)
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=a.name, dynamic_ncols=True, disable=not progress)
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(part, "ab" if offset else "wb") as f:
                for block in iter(lambda: r.read(BLOCK), b""):
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        finally:
            bar.close()
    got = part.stat().st_size
    if total and got != total:
        raise ReproError(f"{a.url}: the connection ended at byte {got} of {total}; the partial "
                         f"download {part} is kept; re-run `repro fetch --only {a.name}` to resume")
    return h.hexdigest(), offset


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+|\*)(?:-(\d+))?/(\d+|\*)")


def _open(a: Asset, offset: int, info: dict):
    """(response, offset it continues at, total bytes or None). Response None: the part is whole."""
    headers = {"User-Agent": "repro-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if info.get("validator"):
            # The server answers 206 only if the file is unchanged since the part began, else 200.
            headers["If-Range"] = info["validator"]
    try:
        r = urllib.request.urlopen(urllib.request.Request(a.url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            m = _CONTENT_RANGE.match(e.headers.get("Content-Range") or "")
            if m and m.group(3) != "*" and int(m.group(3)) == offset:
                return None, offset, offset
            return _open(a, 0, {})                       # the part is longer than the file
        raise
    status = getattr(r, "status", None)
    length = r.headers.get("Content-Length")
    if offset and status == 206:
        m = _CONTENT_RANGE.match(r.headers.get("Content-Range") or "")
        if m and m.group(1) != "*" and int(m.group(1)) == offset and m.group(3) != "*":
            return r, offset, int(m.group(3))
        r.close()
        return _open(a, 0, {})                           # a range we did not ask for: start over
    # No range asked, or the server (or file://) ignored it: the whole file from byte 0.
    return r, 0, int(length) if length and length.isdigit() else None
