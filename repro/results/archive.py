"""Records that travel: `repro export` packs result records (with their operative configs and,
optionally, their checkpoints stored by sha256) into one .tar.gz; `repro import` unpacks one into
a registry.

Layout of an archive:
  manifest.json                    {"format": "repro-records", "version": 1, "records": [...],
                                    "checkpoints": [...]}
  records/<row id>/<file>.json     the records, byte for byte
  configs/<row id>/<file>.gin      each record's operative config, readable without JSON
  checkpoints/<sha256>.pt          with --with-checkpoints

Import trusts nothing in the archive: only regular files under those three folders are read
(links, devices, absolute names and '..' are refused), every record is validated and must lie
under its own row, every checkpoint must hash to its name, and all of it is checked before the
first file is written. Records land in `<tables>/results/<row>/` and never overwrite one already
there; checkpoints land in $REPRO_CACHE/checkpoints/ (else `<tables>/checkpoints/`), where
`repro verify` looks them up by hash.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path, PurePosixPath

from repro.io import ReproError, atomic_open, atomic_write_bytes, sha256_file

FORMAT = "repro-records"
VERSION = 1
_SHA_PT = re.compile(r"^[0-9a-f]{64}\.pt$")
MAX_CHECKPOINT_BYTES = 64 << 30


def export_records(record_paths, out, with_checkpoints=False, ckpt_dirs=()) -> dict:
    """Write the archive `out`; returns the manifest."""
    from repro.results.records import read_record
    from repro.results.verify import find_checkpoint

    out = Path(out)
    if not record_paths:
        raise ReproError("repro export: no records given; name record files, e.g. tables/results/demo/digits/nfe1/*.json")
    names, ckpts, members = [], {}, []
    for p in record_paths:
        rec = read_record(p)
        base = Path(p).name
        arc = f"records/{rec['row']}/{base}"
        if arc in names:
            raise ReproError(f"{p}: a record named {base} of row {rec['row']} is given twice; name it once")
        names.append(arc)
        members.append((arc, Path(p).read_bytes()))
        members.append((f"configs/{rec['row']}/{base[:-5] if base.endswith('.json') else base}.gin",
                        rec["operative_config"].encode("utf-8")))
        if with_checkpoints:
            want = rec["checkpoint"].get("sha256")
            if not want:
                raise ReproError(f"{p}: records no checkpoint; export without --with-checkpoints")
            path, digest, tried = find_checkpoint(rec["checkpoint"], ckpt_dirs=ckpt_dirs)
            if path is None or digest != want:
                raise ReproError(f"{p}: its checkpoint (sha256 {want[:16]}…) is not here (looked in "
                                 f"{'; '.join(tried)}); pass --ckpt-dir DIR, or export without --with-checkpoints")
            ckpts[want] = path
    manifest = {"format": FORMAT, "version": VERSION, "records": names,
                "checkpoints": [f"checkpoints/{h}.pt" for h in sorted(ckpts)]}
    with atomic_open(out, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        _add_bytes(tar, "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        for arc, data in members:
            _add_bytes(tar, arc, data)
        for h, path in sorted(ckpts.items()):
            info = tarfile.TarInfo(f"checkpoints/{h}.pt")
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as src:
                tar.addfile(info, src)
    return manifest


def _add_bytes(tar, name, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _safe_name(name: str, archive) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or not p.parts:
        raise ReproError(f"{archive}: member {name!r} points outside the archive's folders; "
                         f"refusing the whole archive (ask the sender for a fresh `repro export`)")
    return p


def import_archive(archive, tables=None, cache=None) -> dict:
    """Check everything in `archive`, then write its records and checkpoints. Returns
    {"records": [written paths], "same": [already there, identical], "checkpoints": [paths]}."""
    import os
    import tempfile

    from repro.results.records import results_dir
    from repro.results.schema import MAX_RECORD_BYTES, validate_record
    from repro.paths import tables_root

    archive = Path(archive)
    try:
        tar = tarfile.open(archive, mode="r:*")
    except (OSError, tarfile.TarError) as e:
        raise ReproError(f"{archive}: not a readable archive ({e}); pass a file `repro export` wrote") from None
    records, ckpt_members = [], []
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ReproError(f"{archive}: damaged archive ({e}); ask for a fresh `repro export`") from None
        seen_manifest = False
        for m in members:
            p = _safe_name(m.name, archive)
            if m.isdir():
                continue
            if not m.isfile():
                raise ReproError(f"{archive}: member {m.name!r} is a link or special file; an export "
                                 f"holds regular files only: refusing the whole archive")
            top = p.parts[0]
            if p.as_posix() == "manifest.json":
                seen_manifest = True
                man = json.loads(tar.extractfile(m).read(MAX_RECORD_BYTES) or b"{}")
                if man.get("format") != FORMAT or man.get("version") != VERSION:
                    raise ReproError(f"{archive}: manifest says {man.get('format')!r} version "
                                     f"{man.get('version')!r}; this repro reads {FORMAT} {VERSION}")
            elif top == "records" and p.suffix == ".json" and len(p.parts) >= 3:
                if m.size > MAX_RECORD_BYTES:
                    raise ReproError(f"{archive}: {m.name}: {m.size} bytes, larger than any record")
                data = tar.extractfile(m).read()
                try:
                    rec = json.loads(data)
                except ValueError as e:
                    raise ReproError(f"{archive}: {m.name}: malformed JSON ({e})") from None
                validate_record(rec, source=f"{archive}: {m.name}")
                row = "/".join(p.parts[1:-1])
                if rec["row"] != row:
                    raise ReproError(f"{archive}: {m.name} holds row {rec['row']!r} but lies under "
                                     f"records/{row}/; refusing the whole archive")
                if p.name.startswith("."):
                    raise ReproError(f"{archive}: {m.name}: record names never start with '.'")
                records.append((row, p.name, data))
            elif top == "configs":
                continue      # a copy of each record's operative_config, for reading
            elif top == "checkpoints" and len(p.parts) == 2 and _SHA_PT.match(p.name):
                if m.size > MAX_CHECKPOINT_BYTES:
                    raise ReproError(f"{archive}: {m.name}: {m.size} bytes, too large for a checkpoint")
                ckpt_members.append(m)
            else:
                raise ReproError(f"{archive}: unexpected member {m.name!r}; an export holds "
                                 f"manifest.json, records/, configs/ and checkpoints/<sha256>.pt only")
        if not seen_manifest:
            raise ReproError(f"{archive}: no manifest.json; not an archive `repro export` wrote")
        base = results_dir(tables)
        todo, same = [], []
        for row, name, data in records:
            dest = base / row / name
            if dest.exists() or dest.is_symlink():
                if dest.is_file() and not dest.is_symlink() and dest.read_bytes() == data:
                    same.append(dest)
                    continue
                raise ReproError(f"{dest}: a different record with this name is already in the "
                                 f"registry; records are never overwritten: move it away first")
            todo.append((dest, data))
        ckpt_dir = Path(cache) / "checkpoints" if cache else (
            Path(os.environ["REPRO_CACHE"]) / "checkpoints" if os.environ.get("REPRO_CACHE")
            else tables_root(tables) / "checkpoints")
        staged = []
        try:
            for m in ckpt_members:
                # hashed before it lands under its name: a wrong hash never reaches the store
                fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".pt", dir=_mkdir(ckpt_dir))
                with os.fdopen(fd, "wb") as f:
                    src = tar.extractfile(m)
                    while chunk := src.read(1 << 20):
                        f.write(chunk)
                want = PurePosixPath(m.name).name[:-3]
                if sha256_file(tmp) != want:
                    os.unlink(tmp)
                    raise ReproError(f"{archive}: {m.name} does not hash to its name; the archive "
                                     f"is damaged or altered: refusing it")
                staged.append((tmp, ckpt_dir / f"{want}.pt"))
            done_ckpts = []
            for tmp, dest in staged:
                if dest.is_file() and sha256_file(dest) == dest.name[:-3]:
                    os.unlink(tmp)
                else:
                    os.replace(tmp, dest)
                done_ckpts.append(dest)
            staged = []
        finally:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    for dest, data in todo:
        atomic_write_bytes(dest, data)
    return {"records": [d for d, _ in todo], "same": same, "checkpoints": done_ckpts}


def _mkdir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d
