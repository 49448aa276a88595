"""Bad inputs: every case goes through the CLI (where one exists), exits 2 with ONE line on stderr
that names the problem, and writes or changes nothing (the isolated dirs are snapshotted).

The corpus lives in tests/bad_inputs/ (see its README); CASES below is the table of cases and the
exact message substrings the user gets.
"""
import errno
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from repro.cli import main
from repro.io import ReproError

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
GIN = Path(__file__).resolve().parent.parent / "gin"
TINY = ["ModelSpec.model_channels=8", "ModelSpec.channels_per_head=8", "TrainSpec.batch_size=16",
        "TrainSpec.total_steps=40", "RuntimeSpec.ckpt_every=1", "RuntimeSpec.log_every=1"]


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


TINY_SETS = _sets(TINY)
CIFAR_AS_LATENT = _sets(["DataSpec.name='cifar10'", "DataSpec.latent=True", "DataSpec.resolution=32"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real checkpoint of the tiny demo row (2 steps)."""
    from repro.rows import load_row
    from repro.train import train_row
    d = tmp_path_factory.mktemp("trained")
    train_row(load_row("demo/digits/nfe1", overrides=TINY), d, max_steps=2, progress=False,
              device="cpu")
    return d / "ckpt" / "step-0000002.pt"


def _gin_copy(tmp):
    dst = tmp / "gin"
    shutil.copytree(GIN, dst)
    shutil.copytree(CORPUS / "gin" / "bad", dst / "bad")
    os.environ["REPRO_GIN"] = str(dst)


def _prepare_cifar(tmp, n=8):
    from helpers.datasets import write_cifar

    from repro.data.prepare import prepare
    prepare("cifar10", write_cifar(tmp / "cifar-src", n=n), allow_nonstandard=True, progress=False)


def _encode_cifar(tmp, truncate=False):
    from repro.data.latents import encode_dataset
    from repro.data.vae import TINY_VAE_CONFIG, build_vae
    _prepare_cifar(tmp)
    out = encode_dataset("cifar10", vae=build_vae(TINY_VAE_CONFIG), vae_hash="tiny", batch_size=4,
                         progress=False)
    if truncate:
        p = out / "latents.npy"
        p.write_bytes(p.read_bytes()[:1000])


def _valid_record():
    from repro.results.records import make_record, write_record
    from repro.rows import load_row
    # provenance pinned clean: the checkout running the tests may be dirty, and only clean records show
    return write_record(make_record(load_row("demo/digits/nfe1"), {"w2_pixels": 1.0}, {"impl": "t"},
                                    None, {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 1},
                                    extra={"git": {"commit": "a" * 40, "dirty": False}}))


def _put_record(tmp, corpus_name):
    d = tmp / "tables" / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True)
    shutil.copy(CORPUS / corpus_name, d / "20250101T000000000000Z-bad.json")


def _folder_128(tmp):
    from helpers.datasets import write_folder
    return write_folder(tmp / "faces128", n=2, size=128)


def _disk_full(tmp, monkeypatch):
    """The tables exist; a new record makes one stale; then every fsync fails with ENOSPC."""
    assert main(["tables"]) == 0
    _valid_record()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)


def _slurm_unreachable(tmp, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp / "empty-bin"))


# id: (setup(tmp, monkeypatch, ckpt) -> argv, expected substrings of the one stderr line)
CASES = {
    "malformed_gin": (lambda t, m, c: (_gin_copy(t), ["show", "bad/malformed"])[1],
                      ["bad/malformed.gin:5: cannot parse", "repro show: error:"]),
    "unknown_configurable": (lambda t, m, c: (_gin_copy(t), ["show", "bad/unknown_configurable"])[1],
                             ["unknown_configurable.gin:5", "No configurable matching 'NoSuchSpec'",
                              "known configurables:"]),
    "missing_include": (lambda t, m, c: (_gin_copy(t), ["show", "bad/missing_include"])[1],
                        ["missing_include.gin:1", "Unable to open file: base/no_such_file.gin",
                         "includes are relative to"]),
    "unknown_row": (lambda t, m, c: ["show", "ict/nope/nfe1"], ["ict/nope/nfe1.gin: no such row file",
                                                                "`repro list` shows the rows"]),
    "malformed_override": (lambda t, m, c: ["show", "demo/digits/nfe1", "--set", "TrainSpec.batch_size=("],
                           ["override 'TrainSpec.batch_size=(': unbalanced bracket"]),
    "unknown_parameter": (lambda t, m, c: ["show", "demo/digits/nfe1", "--set", "TrainSpec.batchsize=4"],
                          ["TrainSpec", "batchsize", "repro show ROW"]),
    "wrong_dataset_path": (lambda t, m, c: ["data", "prepare", "cifar10", "--src", str(t / "nope")],
                           ["nope: no such file or directory", "pass --src"]),
    "unknown_dataset": (lambda t, m, c: ["data", "prepare", "mnist", "--src", str(t)],
                        ["dataset 'mnist': unknown", "cifar10"]),
    "wrong_image_size": (lambda t, m, c: ["data", "prepare", "celebahq256", "--src", str(_folder_128(t)),
                                          "--allow-nonstandard", "--no-progress"],
                         ["size 128x128, expected 256x256"]),
    "dataset_of_wrong_kind": (lambda t, m, c: (_prepare_cifar(t), ["train", "demo/digits/nfe1", *TINY_SETS,
                              *_sets(["DataSpec.name='cifar10'", "DataSpec.resolution=256",
                                      "DataSpec.channels=3"])])[1],
                              ["cifar10: prepared images are (32, 32, 3), the row wants 256x256x3"]),
    "dataset_not_prepared": (lambda t, m, c: ["train", "demo/digits/nfe1", *TINY_SETS,
                                              *_sets(["DataSpec.name='cifar10'", "DataSpec.resolution=32"])],
                             ["dataset cifar10 is not prepared", "repro data prepare cifar10"]),
    "corrupt_checkpoint_random": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--ckpt",
                                                   str(CORPUS / "ckpt_random_bytes.pt"), "--no-record"],
                                  ["ckpt_random_bytes.pt: corrupt or truncated checkpoint"]),
    "truncated_checkpoint": (lambda t, m, c: (Path(t / "step-0000002.pt").write_bytes(c.read_bytes()[:5000]),
                                              ["eval", "demo/digits/nfe1", *TINY_SETS, "--ckpt",
                                               str(t / "step-0000002.pt"), "--no-record"])[1],
                             ["step-0000002.pt: corrupt or truncated checkpoint"]),
    "checkpoint_of_another_row": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--set",
                                                   "LossSpec.diff_weight=1.0", "--ckpt", str(c), "--no-record"],
                                  ["step-0000002.pt: written under training key", "use another run directory"]),
    "run_dir_without_checkpoints": (lambda t, m, c: ((t / "emptyrun").mkdir(), ["eval", "demo/digits/nfe1",
                                    "--ckpt", str(t / "emptyrun"), "--no-record"])[1],
                                    ["emptyrun: run directory has no checkpoints"]),
    "truncated_latent_cache": (lambda t, m, c: (_encode_cifar(t, truncate=True),
                               ["train", "demo/digits/nfe1", *TINY_SETS, *CIFAR_AS_LATENT])[1],
                               ["latent cache unreadable", "repro data encode cifar10"]),
    "latent_shape_mismatch": (lambda t, m, c: (_encode_cifar(t), ["train", "demo/digits/nfe1", *TINY_SETS,
                                                                  *CIFAR_AS_LATENT])[1],
                              ["cifar10: latent cache holds (4, 16, 16), the row wants (4, 4, 4)"]),
    "latent_cache_missing": (lambda t, m, c: (_prepare_cifar(t), ["train", "demo/digits/nfe1", *TINY_SETS,
                                                                  *CIFAR_AS_LATENT])[1],
                             ["no complete latent cache for cifar10", "repro data encode cifar10"]),
    "vae_weights_missing_offline": (lambda t, m, c: (_prepare_cifar(t), ["data", "encode", "cifar10",
                                                                         "--no-progress"])[1],
                                    ["config.json: missing from the asset cache", "repro fetch --only vae-config"]),
    "inception_missing_offline": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--set",
                                                   "EvalSpec.metric='fid'", "--ckpt", str(c), "--no-record",
                                                   "--num", "4", "--no-progress"],
                                  ["Inception weights for clean-fid mode", "repro fetch --only inception"]),
    "malformed_record": (lambda t, m, c: (_put_record(t, "record_malformed.json"), ["tables"])[1],
                         ["-bad.json: malformed JSON", "move it out of the registry"]),
    "record_of_unknown_schema": (lambda t, m, c: (_put_record(t, "record_future_schema.json"), ["tables"])[1],
                                 ["-bad.json: unknown schema_version 99"]),
    "disk_full_while_writing": (lambda t, m, c: (_disk_full(t, m), ["tables"])[1],
                                ["cannot write (No space left on device)", "the file was left as it was"]),
    "slurm_unreachable": (lambda t, m, c: (_slurm_unreachable(t, m), ["submit", "demo/digits/nfe1"])[1],
                          ["SLURM not reachable: no `sbatch`/`scontrol` on PATH"]),
    "profile_unknown_field": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile",
                                               str(CORPUS / "profile_unknown_field.toml")],
                              ["profile_unknown_field.toml: unknown field 'gpus_per_nodes'", "known fields:"]),
    "profile_unknown_name": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile", "nope"],
                             ["no profile 'nope'"]),
    "unknown_asset": (lambda t, m, c: ["fetch", "--only", "nope", "--dry-run"], ["--only nope: no such asset"]),
}


def _snapshot(root: Path) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for x in dirs:
            out[os.path.relpath(os.path.join(d, x), root)] = "dir"
        for x in files:
            p = os.path.join(d, x)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, isolated, monkeypatch, capsys, trained):
    monkeypatch.delenv("REPRO_GIN", raising=False)
    setup, expected = CASES[case]
    try:
        argv = setup(isolated, monkeypatch, trained)
        capsys.readouterr()
        before = _snapshot(isolated)
        rc = main(argv)
        out, err = capsys.readouterr()
        after = _snapshot(isolated)
    finally:
        os.environ.pop("REPRO_GIN", None)
    assert rc == 2, (rc, out, err)
    # one error line (a preceding 'warning:' line, e.g. --allow-nonstandard's, is allowed)
    lines = [x for x in err.strip().splitlines() if ": warning: " not in x]
    assert len(lines) == 1 and " error: " in lines[0], err
    for s in expected:
        assert s in lines[0], f"{s!r} not in {lines[0]!r}"
    assert after == before, f"{case} wrote or changed files: " + str(
        {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)})
    print(f"\n{case}: {lines[0]}")


def test_stale_tables_check_exits_1_with_a_diff(isolated, capsys):
    assert main(["tables"]) == 0
    _valid_record()
    capsys.readouterr()
    before = _snapshot(isolated)
    assert main(["tables", "--check"]) == 1
    out = capsys.readouterr().out
    assert "---" in out and "+++" in out and "stale or missing; run `repro tables`" in out
    assert _snapshot(isolated) == before


def test_reference_statistics_of_another_dataset(tmp_path):
    """No CLI path reaches this without Inception weights; the loader is the gate."""
    from repro.eval.refstats import RefStats, load_stats, save_stats
    p = tmp_path / "stats.npz"
    save_stats(p, RefStats(np.zeros(4), np.eye(4), {"dataset": "cifar10", "data_hash": "abc",
                                                    "mode": "clean", "extractor": "inception-torchscript"}))
    before = p.read_bytes()
    with pytest.raises(ReproError) as e:
        load_stats(p, {"dataset": "celebahq256", "data_hash": "def", "mode": "clean",
                       "extractor": "inception-torchscript"})
    msg = str(e.value)
    assert "\n" not in msg and "reference statistics were computed for dataset=cifar10" in msg
    assert "asked for dataset=celebahq256" in msg and p.read_bytes() == before


def test_disk_full_leaves_target_and_no_temp(tmp_path, monkeypatch):
    from repro.io import atomic_write_text
    target = tmp_path / "t.txt"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ReproError, match="No space left on device"):
        atomic_write_text(target, "new" * 1000)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_nan_loss_stops_naming_step_and_last_good_checkpoint(isolated, capsys):
    import torch

    from repro.io import safe_torch_load
    rc = main(["train", "demo/digits/nfe1", *TINY_SETS, "--set", "OptimSpec.lr=1e30", "--steps", "20",
               "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "non-finite loss at step" in err and "last good checkpoint:" in err
    good = err.rsplit("last good checkpoint: ", 1)[1]
    step = int(err.split("non-finite loss at step ")[1].split(";")[0])
    if good.startswith("none"):
        assert step == 0
    else:
        state = safe_torch_load(good)
        assert state["step"] <= step
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
        # nothing at or past the bad step was saved
        assert all(int(p.name[5:12]) <= step for p in Path(good).parent.glob("step-*.pt"))
    print(f"\nnan_loss: {err}")
