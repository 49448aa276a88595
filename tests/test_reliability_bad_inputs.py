"""Bad inputs a run reads: rows and their gin files, overrides and spec fields, row ids, datasets
and latent caches, checkpoints and assets. Every case goes through the CLI (where one exists),
exits 2 with ONE line on stderr that names the problem, and writes or changes nothing (the
isolated dirs are snapshotted). Records, tables and cluster profiles:
test_reliability_bad_records_profiles.py.

The corpus lives in tests/bad_inputs/ (see its README); CASES below is the table of cases and the
exact message substrings the user gets.
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers.bad_inputs import CORPUS, check_case
from repro.cli import main
from repro.io import ReproError

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


def _folder_128(tmp):
    from helpers.datasets import write_folder
    return write_folder(tmp / "faces128", n=2, size=128)


def _cifar_bytes_labels(tmp):
    import pickle

    from helpers.datasets import write_cifar
    d = write_cifar(tmp / "cifar-bytes", n=4)
    with open(d / "data_batch_1", "rb") as f:
        batch = pickle.load(f)
    batch[b"labels"] = b"\x00\x01\x02\x03"
    with open(d / "data_batch_1", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return d


def _png_bomb(tmp):
    """A PNG whose header claims 20000x20000 (the pixels are never there)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    d = tmp / "bomb"
    d.mkdir()
    (d / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
                                 + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
    return d


def _bad_ckpt(tmp, c, how):
    """A copy of the trained checkpoint with its model weights damaged in one way."""
    import torch

    from repro.io import atomic_torch_save, safe_torch_load
    state = safe_torch_load(c)
    if how == "shapes":
        state["model"] = {k: torch.zeros(3) for k in state["model"]}
        for e in state["ema"].values():
            e.update({k: torch.zeros(3) for k in e})
    else:
        state["model"] = {}
    p = tmp / f"{how}.pt"
    atomic_torch_save(p, state)
    return p


def _ckpt_dir_as_step(tmp):
    d = tmp / "run-with-dir" / "ckpt" / "step-0000009.pt"
    d.mkdir(parents=True)
    return tmp / "run-with-dir"


def _bad_set(binding, command="train", *expected):
    extra = {"train": ["--steps", "1"], "submit": ["--dry-run"], "show": []}[command]
    field = binding.split("=")[0]
    return (lambda t, m, c: [command, "demo/digits/nfe1", "--set", binding, *extra],
            [f"override '{binding}'", f"{field} = ", *expected])


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
    "unknown_asset": (lambda t, m, c: ["fetch", "--only", "nope", "--dry-run"], ["--only nope: no such asset"]),
    # -- every spec field validated at load, the same in show, submit --dry-run and train
    "micro_batch_negative": _bad_set("RuntimeSpec.micro_batch=-4", "train", "> 0"),
    "total_steps_zero": _bad_set("TrainSpec.total_steps=0", "train", "> 0"),
    "lr_negative": _bad_set("OptimSpec.lr=-1.0", "train", "> 0"),
    "lr_infinite": _bad_set("OptimSpec.lr=1e999", "train", "not finite"),
    "ema_rate_above_one": _bad_set("TrainSpec.ema_rates=(2.0,)", "train", "in (0, 1)"),
    "batch_size_string": _bad_set("TrainSpec.batch_size='16'", "train", "is not an int"),
    "batch_size_bool": _bad_set("TrainSpec.batch_size=True", "submit", "is not an int"),
    "model_channels_zero": _bad_set("ModelSpec.model_channels=0", "train", "> 0"),
    "data_limit_negative": _bad_set("DataSpec.limit=-1", "train", "> 0"),
    "ckpt_every_zero": _bad_set("RuntimeSpec.ckpt_every=0", "train", "> 0"),
    "keep_ckpts_zero": _bad_set("RuntimeSpec.keep_ckpts=0", "submit", "> 0"),
    "distance_typo_show": _bad_set("LossSpec.distance='l3'", "show", "'cauchy'"),
    "distance_typo_submit": _bad_set("LossSpec.distance='l3'", "submit", "'cauchy'"),
    "distance_typo_train": _bad_set("LossSpec.distance='l3'", "train", "'cauchy'"),
    "norm_unknown": _bad_set("ModelSpec.norm='batchnorm'", "show", "'ns_layernorm'"),
    "eval_ema_not_trained": _bad_set("EvalSpec.ema=0.5", "train", "TrainSpec.ema_rates"),
    "betas_one_value": _bad_set("OptimSpec.betas=(0.9,)", "show", "2 values"),
    "sigma_max_below_min": _bad_set("LossSpec.sigma_max=0.001", "show", "must exceed"),
    "curriculum_unknown": _bad_set("CurriculumSpec.kind='linear'", "submit", "'ict_exp'"),
    "metric_unknown": _bad_set("EvalSpec.metric='is'", "show", "'fid'"),
    "dropout_one": _bad_set("ModelSpec.dropout=1.0", "show", "in [0, 1)"),
    # -- row ids resolve only inside the rows directory
    "row_id_dotdot_show": (lambda t, m, c: ["show", "../README"], ["without '..'"]),
    "row_id_absolute_eval": (lambda t, m, c: ["eval", "/etc/passwd", "--ckpt", str(c), "--no-record"], ["without '..'"]),
    "row_id_dotdot_inside": (lambda t, m, c: ["show", "demo/../demo/digits/nfe1"], ["without '..'"]),
    # -- checkpoints
    "checkpoint_wrong_shapes": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--ckpt",
                                                 str(_bad_ckpt(t, c, "shapes")), "--no-record"],
                                ["shapes.pt: weights do not fit the row's network", "size mismatch"]),
    "checkpoint_empty_model": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--ckpt",
                                                str(_bad_ckpt(t, c, "empty")), "--no-record"],
                               ["empty.pt: not a repro checkpoint (empty or malformed model weights)"]),
    "checkpoint_is_a_directory": (lambda t, m, c: ["eval", "demo/digits/nfe1", *TINY_SETS, "--ckpt",
                                                   str(_ckpt_dir_as_step(t)), "--no-record"],
                                  ["run-with-dir: run directory has no checkpoints"]),
    # -- data
    "cifar_labels_as_bytes": (lambda t, m, c: ["data", "prepare", "cifar10", "--src", str(_cifar_bytes_labels(t)),
                                               "--allow-nonstandard", "--no-progress"],
                              ["b'labels' must be a list of integers"]),
    "png_decompression_bomb": (lambda t, m, c: ["data", "prepare", "celebahq256", "--src", str(_png_bomb(t)),
                                                "--allow-nonstandard", "--no-progress"],
                               ["huge.png: image too large to decode safely"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, isolated, monkeypatch, capsys, trained):
    check_case(case, *CASES[case], isolated, monkeypatch, capsys, trained)


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
