"""The private names of clean-fid and submitit that repro relies on are still there and behave.

pyproject.toml caps both packages below their next minor release. When one of these tests fails
after raising a cap, the message names the package, the name that moved and the repro file that
uses it: adapt that file, then move the cap.
"""
import inspect
import re
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _bound(package: str) -> str:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    spec = next((d for d in deps if re.match(rf"{re.escape(package)}\s*[<>=!~]", d)), None)
    assert spec is not None, f"{package} is not a dependency in pyproject.toml"
    return spec


def _moved(package: str, name: str, user: str, why: str) -> str:
    return (f"{package} private API moved: {name} ({why}); {user} uses it. Adapt {user}, then "
            f"revisit the bound '{_bound(package)}' in pyproject.toml")


def _params(fn) -> set:
    return set(inspect.signature(fn).parameters)


@pytest.mark.parametrize("package", ["clean-fid", "submitit", "gin-config"])
def test_private_api_packages_have_an_upper_bound(package):
    spec = _bound(package)
    assert "<" in spec, f"pyproject.toml: '{spec}' has no upper bound, but repro uses private names of {package}"
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet
    spec_set = SpecifierSet(spec[len(package):].strip())
    assert spec_set.contains(version(package)), \
        f"installed {package} {version(package)} is outside '{spec}'; run the tests in this file, then move the bound"


# ------------------------------------------------------------------------------------- clean-fid

def test_cleanfid_get_model_features_loop():
    """repro/eval/fid.py feeds images through get_model_features: G is called once per batch with
    z of shape (batch_size, z_dim), legacy_tensorflow passes the batch on unresized, and the
    result is cut to num_gen rows (so a zero-padded last batch is dropped)."""
    import numpy as np
    import torch
    from cleanfid import fid

    user = "repro/eval/fid.py"
    need = {"G", "model", "mode", "z_dim", "num_gen", "batch_size", "device", "verbose"}
    assert need <= _params(fid.get_model_features), \
        _moved("clean-fid", "cleanfid.fid.get_model_features", user, f"parameters {sorted(need)} expected")
    calls = []
    images = torch.arange(8 * 3 * 2 * 2, dtype=torch.float32).reshape(8, 3, 2, 2)

    def G(z):
        calls.append(tuple(z.shape))
        start = 4 * (len(calls) - 1)
        return images[start:start + 4]

    feats = fid.get_model_features(G, lambda x: x.flatten(1), mode="legacy_tensorflow", z_dim=1, num_gen=5,
                                   batch_size=4, device=torch.device("cpu"), verbose=False)
    assert calls == [(4, 1), (4, 1)], _moved("clean-fid", "cleanfid.fid.get_model_features", user,
                                             f"G called with z shapes {calls}, expected one (4, 1) per batch")
    assert np.array_equal(np.asarray(feats), images[:5].flatten(1).numpy()), \
        _moved("clean-fid", "cleanfid.fid.get_model_features", user,
               "legacy_tensorflow features are not the first num_gen unresized images")


def test_cleanfid_pytorch_inception_loads_weights_through_module_global():
    """repro/eval/fid.py answers the weights download by replacing the module attribute
    cleanfid.inception_pytorch.load_state_dict_from_url, which fid_inception_v3 must look up."""
    import cleanfid.inception_pytorch as ip

    user = "repro/eval/fid.py (_no_download)"
    assert callable(getattr(ip, "load_state_dict_from_url", None)), \
        _moved("clean-fid", "cleanfid.inception_pytorch.load_state_dict_from_url", user, "no such attribute")
    fn = ip.fid_inception_v3
    assert fn.__globals__ is vars(ip) and "load_state_dict_from_url" in fn.__code__.co_names, \
        _moved("clean-fid", "cleanfid.inception_pytorch.fid_inception_v3", user,
               "no longer loads its weights through the module's load_state_dict_from_url")
    assert {"output_blocks", "resize_input"} <= _params(ip.InceptionV3), \
        _moved("clean-fid", "cleanfid.inception_pytorch.InceptionV3", user, "output_blocks/resize_input expected")
    assert "fid_inception_v3" in ip.InceptionV3.__init__.__code__.co_names, \
        _moved("clean-fid", "cleanfid.inception_pytorch.InceptionV3", user, "no longer builds fid_inception_v3")


def test_cleanfid_torchscript_inception_loads_local_file_without_download(tmp_path, monkeypatch):
    """download=False must just torch.jit.load <dir>/inception-2015-12-05.pt (no network)."""
    import urllib.request

    import torch
    from cleanfid.inception_torchscript import InceptionV3W

    user = "repro/eval/fid.py (inception_extractor)"
    assert {"path", "download", "resize_inside"} <= _params(InceptionV3W), \
        _moved("clean-fid", "cleanfid.inception_torchscript.InceptionV3W", user,
               "path/download/resize_inside expected")

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Identity()

        def forward(self, x):
            return x

    torch.jit.save(torch.jit.script(Tiny()), str(tmp_path / "inception-2015-12-05.pt"))

    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    try:
        net = InceptionV3W(str(tmp_path), download=False, resize_inside=True)
    except Exception as e:
        pytest.fail(_moved("clean-fid", "cleanfid.inception_torchscript.InceptionV3W", user,
                           f"download=False no longer just loads the local file: {e!r}"))
    assert net.resize_inside is True, \
        _moved("clean-fid", "cleanfid.inception_torchscript.InceptionV3W", user, "resize_inside not kept")


# -------------------------------------------------------------------------------------- submitit

def test_submitit_slurm_job_handle_without_cluster(tmp_path):
    """repro/launch/jobstates.py rebuilds job handles from the job log and reads state from their watcher."""
    from submitit.slurm.slurm import SlurmJob

    user = "repro/launch/jobstates.py (_job_handle, job_states)"
    name = "submitit.slurm.slurm.SlurmJob"
    assert {"folder", "job_id", "tasks"} <= _params(SlurmJob), _moved("submitit", name, user, "folder/job_id/tasks")
    job = SlurmJob(folder=tmp_path / "%j", job_id="4242", tasks=range(2))
    assert "4242" in str(job.paths.stderr) and str(job.paths.stderr).startswith(str(tmp_path)), \
        _moved("submitit", f"{name}.paths.stderr", user, f"got {job.paths.stderr}")
    assert callable(getattr(job.watcher, "update", None)), _moved("submitit", f"{name}.watcher.update", user, "gone")
    assert {"job_id", "mode"} <= _params(job.watcher.get_state), \
        _moved("submitit", f"{name}.watcher.get_state", user, "job_id/mode expected")


def test_submitit_sbatch_text_and_dry_run_executor(tmp_path):
    """repro/launch/executors.py prints the sbatch file through SlurmExecutor internals (affinity patched
    for --dry-run, _executor, parameters, _submitit_command_str, _make_sbatch_string)."""
    from submitit.core.utils import FailedJobError
    from submitit.slurm.slurm import SlurmExecutor

    from repro.launch import executors
    from repro.launch.profiles import load_profile

    user = "repro/launch/executors.py (make_executor, sbatch_text, _submission_errors)"
    assert isinstance(inspect.getattr_static(SlurmExecutor, "affinity"), classmethod), \
        _moved("submitit", "SlurmExecutor.affinity", user, "no longer a classmethod")
    assert issubclass(FailedJobError, Exception), _moved("submitit", "submitit.core.utils.FailedJobError", user, "")
    try:
        ex = executors.make_executor(load_profile("local"), tmp_path, name="probe", dry_run=True)
        text = executors.sbatch_text(ex, array_size=3)
    except Exception as e:
        pytest.fail(_moved("submitit", "SlurmExecutor internals / _make_sbatch_string", user, repr(e)))
    for needle in ("#SBATCH --array=0-2", "#SBATCH --job-name=probe", "#SBATCH --signal=USR2@",
                   "submitit.core._submit"):
        assert needle in text, _moved("submitit", "submitit.slurm.slurm._make_sbatch_string", user,
                                      f"{needle!r} missing from the sbatch text")


def test_submitit_pieces_of_the_held_submission(tmp_path):
    """repro/launch/slurm.py submits held jobs itself: it dumps the DelayedSubmission (with
    submitit's timeout countdown) where submitit's runner looks for it, names the interpreter
    (slurm_python), and the job entry (repro/launch/jobstart.py) calls submitit's runner."""
    import submitit
    from submitit.core.submission import submitit_main
    from submitit.core.utils import DelayedSubmission, JobPaths

    from repro.launch import executors, slurm
    from repro.launch.profiles import load_profile

    user = "repro/launch/submission.py (_submit_held), repro/launch/joblog.py (job_pickle), repro/launch/jobstart.py"
    assert callable(submitit_main), _moved("submitit", "submitit.core.submission.submitit_main", user, "gone")
    path = JobPaths(str(tmp_path / "%j"), job_id="77_1").submitted_pickle
    assert path == tmp_path / "77_1" / "77_1_submitted.pkl", _moved("submitit", "JobPaths.submitted_pickle", user, str(path))
    d = DelayedSubmission(slurm.TrainJob(), "row")
    d.set_timeout(30, 100)
    d.dump(tmp_path / "x.pkl")
    back = DelayedSubmission.load(tmp_path / "x.pkl")
    assert (back._timeout_min, back._timeout_countdown, back.args) == (30, 100, ("row",)), \
        _moved("submitit", "DelayedSubmission.set_timeout/dump/load", user, "timeout not kept")
    ex = executors.make_executor(load_profile("local"), tmp_path, dry_run=True)
    inner = ex._executor
    assert isinstance(ex, submitit.AutoExecutor) and "repro.launch.jobstart" in inner._submitit_command_str, \
        _moved("submitit", "AutoExecutor(slurm_python=...)", user, inner._submitit_command_str)
    assert (inner._num_tasks(), inner.max_num_timeout, inner.parameters.get("time")) == (1, executors.MAX_REQUEUES, 30), \
        _moved("submitit", "SlurmExecutor._num_tasks / max_num_timeout / parameters", user, "")


# ------------------------------------------------------------------------------------- gin-config

def test_gin_location_prefixes_decide_where_includes_resolve(tmp_path, monkeypatch):
    """repro/rows/load.py narrows gin.config._LOCATION_PREFIXES to the rows directory, so that
    a `base/` folder in the cwd is never read in place of gin/base/."""
    import gin

    prefixes = getattr(gin.config, "_LOCATION_PREFIXES", None)
    assert isinstance(prefixes, list), _moved("gin-config", "gin.config._LOCATION_PREFIXES",
                                              "repro/rows/load.py", "no longer a list")
    # a decoy base/ in the cwd: the row must still load its real includes
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "demo.gin").write_text("TrainSpec.batch_size = 'decoy'\n")
    (tmp_path / "base" / "common.gin").write_text("TrainSpec.batch_size = 'decoy'\n")
    monkeypatch.chdir(tmp_path)
    from repro.rows import load_row
    before = list(prefixes)
    row = load_row("demo/digits/nfe1")
    assert row.train.batch_size == 64 and list(gin.config._LOCATION_PREFIXES) == before
