"""Crash safety by fault injection: SIGKILL training, record writers, the latent cache and data
prepare at random moments, restart them, and check that nothing torn is ever read and that the
resumed result equals an uninterrupted run's (bitwise where the job is deterministic).

Children are forked from a preloaded forkserver (tests/helpers/killharness.py), so a restart costs
milliseconds, not the seconds of a fresh Python with torch.
"""
import json
import os
import shutil

import numpy as np
import pytest

from helpers import killharness as kh
from repro.io import ReproError, safe_torch_load
from repro.train.checkpoint import checkpoints
from helpers.statecmp import assert_bitwise_equal

TRAIN_KILLS = 50
STEPS = 40
WRITE_DELAY_S = 0.05    # widens each checkpoint write (half written, then a pause) for the kills


def _assert_same_state(a, b):
    assert a["step"] == b["step"]
    assert assert_bitwise_equal(a, b) > 20


@pytest.mark.slow
def test_training_killed_50_times_matches_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    kh.run_to_end(kh.train, (str(ref),))
    want = safe_torch_load(checkpoints(ref)[0])
    assert want["step"] == STEPS

    total = {"kills": 0, "during_write": 0, "episodes": 0}
    while total["kills"] < TRAIN_KILLS:
        run = tmp_path / f"killed{total['episodes']}"
        temps_seen, last_step = set(), [0]

        def on_kill(_i, run=run, temps_seen=temps_seen, last_step=last_step):
            d = run / "ckpt"
            if not d.is_dir():
                return
            temps = {p.name for p in d.glob(".step-*.tmp")}
            total["during_write"] += len(temps - temps_seen)
            temps_seen.update(temps)
            # Every checkpoint a reader can see is whole, and progress never goes backwards.
            for p in checkpoints(run):
                assert safe_torch_load(p)["step"] == int(p.name[5:12])
            newest = checkpoints(run)
            step = int(newest[0].name[5:12]) if newest else 0
            assert step >= last_step[0]
            last_step[0] = step

        def finished(run=run):
            return (run / "ckpt" / f"step-{STEPS:07d}.pt").is_file()

        stats = kh.run_with_kills(kh.train, (str(run), kh.TRAIN_OVERRIDES, None, WRITE_DELAY_S), kills=TRAIN_KILLS - total["kills"],
                                  min_delay=0.05, max_delay=1.0, on_kill=on_kill, done=finished,
                                  seed=total["episodes"])
        total["kills"] += stats["kills"]
        total["episodes"] += 1
        _assert_same_state(safe_torch_load(checkpoints(run)[0]), want)
        # No temp files left, and the log holds each step once, every line whole.
        assert not list((run / "ckpt").glob(".*")), list((run / "ckpt").iterdir())
        lines = (run / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(line)["step"] for line in lines if "warning" not in json.loads(line)]
        assert steps == list(range(1, STEPS + 1))
    print(f"\ntraining: {total['kills']} kills survived in {total['episodes']} run(s), "
          f"{total['during_write']} inside a checkpoint write")
    assert total["kills"] >= TRAIN_KILLS
    assert total["during_write"] >= 1


def _record(tmp_path):
    from repro.results.records import make_record
    from repro.rows import load_row
    row = load_row("demo/digits/nfe1")
    return make_record(row, {"w2_pixels": 1.0}, {"impl": "test"}, None,
                       {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 1})


@pytest.mark.slow
def test_record_writers_killed_never_leave_a_torn_record(tmp_path):
    from repro.results.records import load_records, read_record, record_files
    root = tmp_path / "tables"
    record = _record(tmp_path)
    seen = {"temps": 0, "records": 0, "files": set()}

    def on_kill(i):
        # Every record a reader can see is whole: read the new ones after each kill (reading all
        # of them each time grows quadratically), and the whole registry every 10th kill.
        files = set(record_files(root))
        for f in files - seen["files"]:
            read_record(f)
        seen["files"] = files
        if i % 10 == 0:
            df = load_records(root)           # never fails on leftovers of a killed writer
            assert len(df) == len(files) >= seen["records"]
            seen["records"] = len(df)
        seen["temps"] = sum(1 for d, _, fs in os.walk(root) for f in fs if f.startswith("."))

    # Each write pauses half-way (5 ms), so a child writes at most ~100 records before its kill
    # (0.02-0.4 s) and many kills land inside a write; the final uninterrupted run writes 60.
    stats = kh.run_with_kills(kh.write_records, (str(root), record, 60, 0.005), kills=50,
                              min_delay=0.02, max_delay=0.4, on_kill=on_kill, seed=1)
    df = load_records(root)
    print(f"\nrecords: {stats['kills']} kills survived, {len(df)} records, "
          f"{seen['temps']} temp files left by kills mid-write (never read)")
    assert stats["kills"] == 50 and len(df) >= 60


@pytest.fixture
def prepared_cifar(tmp_path):
    from helpers.datasets import write_cifar
    from repro.data.prepare import prepare
    root = tmp_path / "data"
    prepare("cifar10", write_cifar(tmp_path / "src", n=160), root=root, allow_nonstandard=True,
            progress=False)
    return root


@pytest.mark.slow
def test_latent_cache_killed_resumes_to_the_same_bytes(prepared_cifar, tmp_path):
    from repro.data.latents import latent_dir, load_latents
    ref_root = tmp_path / "ref"
    shutil.copytree(prepared_cifar, ref_root)
    kh.run_to_end(kh.encode, (str(ref_root), 2, 2))
    want = np.array(np.load(latent_dir("cifar10", ref_root) / "latents.npy"))
    counts = {"complete_seen": 0, "incomplete_refused": 0}

    def on_kill(_i):
        try:
            lat, _, _, _ = load_latents("cifar10", prepared_cifar)
        except ReproError:
            counts["incomplete_refused"] += 1
            return
        np.testing.assert_array_equal(np.asarray(lat), want)   # complete means complete
        counts["complete_seen"] += 1

    def finished():
        return (latent_dir("cifar10", prepared_cifar) / "manifest.json").is_file()

    stats = kh.run_with_kills(kh.encode, (str(prepared_cifar), 2, 2), kills=25, min_delay=0.02,
                              max_delay=0.6, on_kill=on_kill, done=finished, seed=2)
    got = np.load(latent_dir("cifar10", prepared_cifar) / "latents.npy")
    assert got.tobytes() == want.tobytes()
    d = latent_dir("cifar10", prepared_cifar)
    assert not (d / "latents.partial.npy").exists() and not list(d.glob(".*"))
    print(f"\nlatents: {stats['kills']} kills survived; {counts}")
    assert stats["kills"] >= 10


def _folder_pixels(src):
    from PIL import Image
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(src.iterdir())])


@pytest.mark.slow
def test_prepare_killed_never_leaves_a_complete_looking_half(tmp_path):
    """Kills during first prepares and during re-prepares over a complete copy (the source grows
    each time a prepare completes): a reader sees no dataset or a complete one, never a half."""
    import time

    from PIL import Image

    from repro.data.prepare import load_prepared
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)

    def add_images(k):
        n0 = len(list(src.iterdir()))
        for i in range(n0, n0 + k):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(src / f"{i:05d}.png")

    add_images(60)
    ref_root, root = tmp_path / "ref", tmp_path / "data"
    kh.warm()
    t0 = time.perf_counter()
    kh.run_to_end(kh.prepare, ("celebahq256", str(src), str(ref_root)))
    took = time.perf_counter() - t0
    counts = {"complete_seen": 0, "absent": 0, "versions": 0}

    def on_kill(_i):
        try:
            images, _, manifest = load_prepared("celebahq256", root)
        except ReproError:
            counts["absent"] += 1
            return
        # complete means complete: every image of the version it claims, byte for byte
        np.testing.assert_array_equal(np.asarray(images), _folder_pixels(src)[:manifest["count"]])
        assert images.shape[0] == manifest["count"]
        counts["complete_seen"] += 1
        if manifest["count"] == len(list(src.iterdir())):
            counts["versions"] += 1
            add_images(3)          # the next run re-prepares over this complete copy

    stats = kh.run_with_kills(kh.prepare, ("celebahq256", str(src), str(root)), kills=25,
                              min_delay=0.0, max_delay=min(1.3 * took, 3.0), on_kill=on_kill, seed=3)
    images, _, manifest = load_prepared("celebahq256", root)
    np.testing.assert_array_equal(np.asarray(images), _folder_pixels(src))
    assert [p.name for p in root.iterdir()] == ["celebahq256"]     # no temp or .old dirs left
    print(f"\nprepare: {stats['kills']} kills survived, {stats['finished_early']} runs completed "
          f"between kills; {counts}")
    assert stats["kills"] == 25
