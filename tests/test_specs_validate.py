"""A row is validated completely when it loads: every field's type, range and choice, in one line
naming the binding, the same for show, submit --dry-run and train, with nothing written."""
import pytest

from repro.cli import main
from repro.specs import CHOICES

BAD = [
    ("LossSpec.distance='l3'", "is not one of 'l2'"),
    ("RuntimeSpec.micro_batch=-4", "> 0"),
    ("TrainSpec.total_steps=0", "> 0"),
    ("OptimSpec.lr=-1.0", "> 0"),
    ("OptimSpec.lr=1e999", "not finite"),
    ("TrainSpec.ema_rates=(2.0,)", "in (0, 1)"),
    ("TrainSpec.batch_size='16'", "is not an int"),
    ("TrainSpec.batch_size=16.0", "is not an int"),
    ("TrainSpec.batch_size=True", "is not an int"),
    ("ModelSpec.model_channels=0", "> 0"),
    ("DataSpec.limit=-1", "> 0"),
    ("RuntimeSpec.ckpt_every=0", "> 0"),
    ("RuntimeSpec.keep_ckpts=0", "> 0"),
    ("ModelSpec.norm='batchnorm'", "'ns_layernorm'"),
    ("EvalSpec.ema=0.5", "TrainSpec.ema_rates"),
    ("OptimSpec.betas=(0.9,)", "2 values"),
    ("LossSpec.sigma_max=0.001", "must exceed"),
    ("CurriculumSpec.kind='linear'", "'ict_exp'"),
    ("EvalSpec.metric='is'", "'fid'"),
]


@pytest.mark.parametrize("binding,expect", BAD)
@pytest.mark.parametrize("command", [["show"], ["train", "--steps", "1"],
                                     ["submit", "--dry-run", "--profile", "local"]])
def test_bad_binding_one_line_every_command(isolated, capsys, binding, expect, command):
    rc = main([command[0], "demo/digits/nfe1", "--set", binding, *command[1:]])
    err = capsys.readouterr().err.strip()
    field = binding.split("=")[0]
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"override '{binding}'" in err and f"{field} = " in err and expect in err, err
    assert not (isolated / "runs").exists() or not any((isolated / "runs").rglob("*.pt"))


def test_steps_must_be_positive(isolated, capsys):
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as e:
            main(["train", "demo/digits/nfe1", "--steps", bad])
        assert e.value.code == 2
        assert "--steps" in capsys.readouterr().err


def test_choices_match_the_components():
    from repro.core.coupling import COUPLINGS
    from repro.core.curricula import C_FORMS, C_KINDS, CURRICULA
    from repro.core.distances import DISTANCES, REDUCTIONS
    from repro.core.objective import DIFF_INDEX_RULES, DIFF_WEIGHTINGS, OBJECTIVES
    from repro.core.sigmas import INDEX_SAMPLERS
    from repro.core.weighting import WEIGHTINGS
    from repro.data.catalog import DATASETS
    from repro.eval.fid import MODES
    from repro.eval.precision_recall import PR_EXTRACTORS
    from repro.nn import ARCHS
    from repro.nn.embeddings import EMBEDDINGS
    from repro.nn.norms import NORMS
    from repro.train.build import OPTIMIZERS

    registries = [COUPLINGS, C_FORMS, C_KINDS, CURRICULA, DISTANCES, REDUCTIONS, DIFF_INDEX_RULES,
                  DIFF_WEIGHTINGS, OBJECTIVES, INDEX_SAMPLERS, WEIGHTINGS, ARCHS, EMBEDDINGS, NORMS,
                  OPTIMIZERS]
    covered = {}
    for reg in registries:
        cls, names = reg.binding.split(".")        # e.g. 'ModelSpec.norm/last_norm'
        covered.update({f"{cls}.{name}": reg for name in names.split("/")})
    for field, reg in covered.items():
        assert set(CHOICES[field]) == set(reg), (field, CHOICES[field], tuple(reg))
    # every named choice of the training specs is a registry (data and eval are checked below)
    recipe = ("ModelSpec.", "LossSpec.", "CurriculumSpec.", "OptimSpec.")
    assert {k for k in CHOICES if k.startswith(recipe)} == set(covered)
    assert set(CHOICES["EvalSpec.fid_mode"]) == set(MODES)
    assert set(CHOICES["EvalSpec.precision_recall"]) == set(PR_EXTRACTORS)
    assert set(DATASETS) | {"digits", "synthetic"} == set(CHOICES["DataSpec.name"])


def test_every_row_validates():
    from repro.rows import all_row_ids, load_row
    for rid in all_row_ids():
        load_row(rid)
        load_row(rid, smoke=True)


def test_micro_batching_with_ot_and_the_diffusion_term_trains(isolated, capsys):
    # accumulation keeps the objective (tests/test_train_accumulation.py), so it is no longer refused
    rc = main(["train", "demo/digits/nfe1", "--steps", "1", "--set", "RuntimeSpec.micro_batch=16",
               "--set", "ModelSpec.model_channels=16"])
    assert rc == 0, capsys.readouterr().err
    assert any((isolated / "runs").rglob("*.pt"))


def test_an_unbound_field_without_default_is_named(isolated, capsys, tmp_path, monkeypatch):
    import shutil

    from repro.paths import gin_dir

    shutil.copytree(gin_dir(), tmp_path / "gin")
    # The row inlines its base without that binding (gin resolves includes through every search
    # path a process has added, so an edited copy of base/demo.gin might not be the one read).
    base, row = (gin_dir() / "base" / "demo.gin").read_text(), tmp_path / "gin" / "demo" / "digits" / "nfe1.gin"
    row.write_text("".join(line for line in (base + row.read_text()).splitlines(True)
                           if not line.startswith(("ModelSpec.dropout", "include 'base/demo.gin'"))))
    monkeypatch.setenv("REPRO_GIN", str(tmp_path / "gin"))
    rc = main(["show", "demo/digits/nfe1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "ModelSpec.dropout is not bound and has no default" in err and "base file" in err, err


def _bindings(path):
    """[(key, value)] of the spec bindings in a gin file, and the files it includes, in order."""
    import ast
    import re

    out = []
    for line in path.read_text().splitlines():
        if m := re.match(r"include '([^']+)'", line):
            out.append(("include", m.group(1)))
        elif (m := re.match(r"(\w+Spec)\.(\w+)\s*=\s*(.+)$", line.split("#")[0].strip())):
            out.append((f"{m.group(1)}.{m.group(2)}", ast.literal_eval(m.group(3))))
    return out


def test_bases_bind_only_what_they_change():
    """The defaults rule (docs/ARCHITECTURE.md): a field's default lives in its dataclass, and a
    base file binds a field only to change the value it would otherwise have there (the default,
    or what an earlier base of the same row bound). A base that several rows include (the toy
    overlay, gin/base/toy.gin, goes on top of sLCT and iCT rows alike) restates a value only when
    the binding changes nothing for every row that includes it."""
    import dataclasses

    from repro import specs
    from repro.paths import gin_dir
    from repro.rows import all_row_ids

    root = gin_dir()
    value = {f"{cls.__name__}.{f.name}": f.default for cls in (specs.DataSpec, specs.ModelSpec, specs.LossSpec,
             specs.CurriculumSpec, specs.OptimSpec, specs.TrainSpec, specs.EvalSpec, specs.RuntimeSpec)
             for f in dataclasses.fields(cls)}
    redundant: dict = {}            # "base: binding" -> does it change nothing in every row so far?

    def walk(rel, state):
        for key, v in _bindings(root / rel):
            if key == "include":
                walk(v, state)
                continue
            if rel.startswith("base/"):
                same = key in state and state[key] == (tuple(v) if isinstance(v, list) else v)
                name = f"{rel}: {key} = {v!r}"
                redundant[name] = redundant.get(name, True) and same
            state[key] = v

    for rid in all_row_ids():
        walk(f"{rid}.gin", dict(value))
    restated = {name for name, r in redundant.items() if r}
    assert not restated, sorted(restated)
