"""Toy rows (gin/toy/) keep their paper row's recipe: only data, network size, steps, batch, step
size, EMA and evaluation may differ (docs/TOY.md), and every ablation block is covered."""
import dataclasses
import json

import pytest

from repro.cli import main
from repro.rows import all_row_ids, load_row

# spec -> fields a toy row may change (None: any field). Loss and curriculum: none at all; the
# sampler (EvalSpec.nfe, .sigmas) stays the paper row's too.
ALLOWED = {
    "claim": None, "runtime": None, "data": None,
    "model": {"img_resolution", "in_channels", "out_channels", "model_channels", "channel_mult",
              "channel_mult_emb", "num_blocks", "attn_resolutions", "channels_per_head"},
    "train": {"batch_size", "epochs", "total_steps", "ema_rates"},
    "optim": {"lr"},   # a 700x shorter step budget needs a larger step (docs/TOY.md)
    "eval": {"metric", "reference", "num_samples", "batch_size", "ema", "fid_mode", "gen_format",
             "precision_recall", "vae_dtype", "seed"},
}
SPECS = ("claim", "data", "model", "loss", "curriculum", "optim", "train", "eval", "runtime")

TOY = sorted(r for r in all_row_ids() if r.startswith("toy/"))


def differing(toy, paper) -> set:
    """'Spec.field' for every field whose value differs between two rows."""
    out = set()
    for spec in SPECS:
        a, b = dataclasses.asdict(getattr(toy, spec)), dataclasses.asdict(getattr(paper, spec))
        out |= {f"{spec}.{k}" for k in a if a[k] != b.get(k)}
    return out


def not_allowed(diff) -> set:
    return {d for d in diff if (ALLOWED.get(d.split(".")[0], set()) is not None
                                and d.split(".", 1)[1] not in ALLOWED.get(d.split(".")[0], set()))}


@pytest.mark.parametrize("row_id", TOY)
def test_toy_row_changes_only_the_scale(row_id):
    toy = load_row(row_id)
    paper = load_row(toy.claim.mirrors)
    diff = differing(toy, paper)
    assert not not_allowed(diff), f"{row_id} changes {sorted(not_allowed(diff))} of {toy.claim.mirrors}"
    assert (toy.claim.fid, toy.claim.recall, toy.claim.label) == (paper.claim.fid, paper.claim.recall,
                                                                   paper.claim.label)
    # the paper-vs-code switches in force are the paper row's (the evaluation's aside)
    recipe_switches = lambda row: {k: v for k, v in row.switches if not k.startswith("eval.")}  # noqa: E731
    assert recipe_switches(toy) == recipe_switches(paper)
    assert (toy.eval.nfe, toy.eval.sigmas) == (paper.eval.nfe, paper.eval.sigmas)


def test_the_allow_list_catches_a_recipe_change():
    toy = load_row("toy/slct/t2a/plus_ot", overrides=["LossSpec.coupling = 'none'", "ModelSpec.norm = 'in'"])
    paper = load_row("slct/t2a/plus_ot")
    assert not_allowed(differing(toy, paper)) == {"loss.coupling", "model.norm"}


def test_every_ablation_block_is_mirrored_with_one_budget():
    mirrored = {load_row(r).claim.mirrors for r in TOY}
    wanted = {r for r in all_row_ids() if r.startswith(("slct/t2a/", "slct/t2b/", "slct/t2c/", "slct/t2d/"))
              and r != "slct/t2c/e_latentlpips"} | {"ict/cifar10/ict/nfe1", "ict/cifar10/ict/nfe2"}
    assert mirrored == wanted
    budgets = {(r.total_steps, r.train.batch_size, r.eval.num_samples, r.model.model_channels)
               for r in map(load_row, TOY)}
    assert len(budgets) == 1, budgets
    # rows the paper trains once share one toy training too
    key = {r: load_row(r).training_key for r in TOY}
    assert key["toy/slct/t2a/plus_nsln"] == key["toy/slct/t2b/r0.25"] == key["toy/slct/t2c/cauchy"] \
        == key["toy/slct/t2d/nsln"] != key["toy/slct/t2a/plus_scaled_c"] == key["toy/slct/t2d/gn"]
    assert key["toy/ict/nfe1"] == key["toy/ict/nfe2"]
    assert len(set(key.values())) == 15


def test_show_prints_the_mirrored_row(capsys):
    assert main(["show", "toy/slct/t2c/huber"]) == 0
    out = capsys.readouterr().out
    assert "mirrors      slct/t2c/huber" in out
    assert main(["show", "toy/slct/t2c/huber", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mirrors"] == "slct/t2c/huber"
