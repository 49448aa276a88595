"""Records name the decode (and every callable) by a stable name, never by a repr."""
import json

import pytest

from repro.data.trainset import VAE_DECODE, open_train_set
from repro.eval.evaluate import callable_name
from repro.eval.sample import to_uint8
from repro.io import ReproError
from repro.specs import DataSpec

REPRS = ("<lambda>", "<function", " at 0x", "<locals>", "<bound method")


def test_demo_record_and_protocol_hold_no_repr(tmp_path):
    from repro.eval.row import evaluate_row
    from repro.results.records import make_record
    from repro.rows import load_row
    from repro.train.build import initial_function

    row = load_row("demo/digits/nfe1")
    res = evaluate_row(row, initial_function(row).eval(), tmp_path / "ev", num=16, progress=False)
    assert res["protocol"]["decode"] == "digits:pixels"
    rec = make_record(row, res["metrics"], res["protocol"], None,
                      {"wall_s": 0.0, "gpu_hours": 0.0, "steps": 0},
                      hardware={"device": "cpu", "count": 1},
                      extra={"throughput": res["throughput"], "artifacts": res["artifacts"]})
    text = json.dumps(rec)
    assert not [r for r in REPRS if r in text], text


def test_decode_names():
    assert open_train_set(DataSpec("synthetic", 8, latent=True, limit=4)).decoder.name == VAE_DECODE
    assert open_train_set(DataSpec("synthetic", 8, limit=4)).decoder.name == "pixels"
    assert callable_name(None) == "pixels"                 # evaluate's default, to_uint8
    assert callable_name(to_uint8) == "repro.eval.sample.to_uint8"
    with pytest.raises(ReproError, match="anonymous callable"):
        callable_name(lambda x: x)
