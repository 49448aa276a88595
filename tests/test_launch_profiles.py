"""Cluster profiles (repro/launch/profiles.py, slurm/profiles/*.toml): no cluster needed."""
import pytest

from repro.io import ReproError
from repro.launch.profiles import Profile, load_profile, profile_names


def test_shipped_profiles_load():
    assert {"local", "example-a100", "example-h100-multinode"} <= set(profile_names())
    local = load_profile("local")
    assert (local.partition, local.gpus_per_node, local.cpus_per_task, local.tasks_per_node) == ("debug", 0, 1, 1)
    h100 = load_profile("example-h100-multinode")
    assert (h100.nodes, h100.tasks_per_node, h100.world_size) == (4, 8, 32)
    assert h100.setup and all(isinstance(x, str) for x in h100.setup)
    assert isinstance(load_profile("example-a100"), Profile)


def test_unknown_field_names_file_field_and_known_fields(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text('partition = "gpu"\ngpus_per_nodes = 8\n')
    with pytest.raises(ReproError) as e:
        load_profile(str(p))
    msg = str(e.value)
    assert str(p) in msg and "'gpus_per_nodes'" in msg and "gpus_per_node" in msg and "array_parallelism" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("text, word", [
    ("nodes = 'two'\n", "nodes"),
    ("nodes = 0\n", "nodes"),
    ("setup = 'module load x'\n", "setup"),
    ("mem_gb = -1\n", "mem_gb"),
    ("signal_delay_s = 30\ncheckpoint_wait_s = 40\n", "checkpoint_wait_s"),
    ("partition = \n", "TOML"),
])
def test_bad_values_are_one_line_errors(tmp_path, text, word):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ReproError, match=word) as e:
        load_profile(p.as_posix())
    assert str(p) in str(e.value)


def test_unknown_profile_lists_known():
    with pytest.raises(ReproError, match="known: .*local"):
        load_profile("no-such-profile")


def _load(tmp_path, text):
    p = tmp_path / "site.toml"
    p.write_text(text)
    return load_profile(p.as_posix())


def test_tasks_per_node_defaults_to_gpus_and_is_settable_on_cpu_nodes(tmp_path):
    assert _load(tmp_path, "gpus_per_node = 4\n").tasks_per_node == 4
    cpu = _load(tmp_path, "tasks_per_node = 2\nnodes = 3\n")
    assert (cpu.tasks_per_node, cpu.world_size) == (2, 6)
    with pytest.raises(ReproError, match="one process per GPU; set tasks_per_node = 8"):
        _load(tmp_path, "gpus_per_node = 8\ntasks_per_node = 1\n")


def test_other_tools_names_map_onto_fields(tmp_path):
    p = _load(tmp_path, 'timeout_min = 120\nslurm_partition = "gpu"\ncpus-per-task = 6\nntasks_per_node = 2\n')
    assert (p.time_min, p.partition, p.cpus_per_task, p.tasks_per_node) == (120, "gpu", 6, 2)
    with pytest.raises(ReproError, match="'time_min' and 'timeout_min' both set field 'time_min'"):
        _load(tmp_path, "timeout_min = 120\ntime_min = 60\n")
    with pytest.raises(ReproError, match="whole minutes"):
        _load(tmp_path, 'time = "2:00:00"\n')


def test_additional_parameters_reach_sbatch_for_both_kinds(tmp_path):
    from repro.launch import executors

    p = _load(tmp_path, 'gpus_per_node = 8\n[additional_parameters]\ngres = "gpu:a100:8"\nexclude = "n[01-02]"\n'
                        'reservation = "lab"\n[eval_additional_parameters]\ngres = "gpu:a100:1"\n')
    train = executors.executor_parameters(p, "train")["slurm_additional_parameters"]
    ev = executors.executor_parameters(p, "eval", dependency="afterok:7")["slurm_additional_parameters"]
    assert train == {"exclude": "n[01-02]", "gres": "gpu:a100:8", "reservation": "lab"}
    assert ev == {"exclude": "n[01-02]", "gres": "gpu:a100:1", "reservation": "lab", "dependency": "afterok:7",
                  "kill_on_invalid_dep": "yes"}
    text = executors.sbatch_text(executors.make_executor(p, tmp_path / "f", "train", dry_run=True))
    assert "#SBATCH --gres=gpu:a100:8" in text and "#SBATCH --exclude='n[01-02]'" in text


@pytest.mark.parametrize("table, word", [
    ('dependency = "afterok:1"', "repro sets --dependency itself"),
    ('partition = "x"', "use the profile field 'partition'"),
    ('mem = "10G"', "use the profile field 'mem_gb'"),
    ('"bad option" = "x"', "not an sbatch option name"),
    ('exclude = "a\\nb"', "control character"),
    ('exclusive = false', "leave the option out"),
])
def test_bad_additional_parameters(tmp_path, table, word):
    with pytest.raises(ReproError, match=word):
        _load(tmp_path, f"[additional_parameters]\n{table}\n")


def test_mem_per_cpu_and_mem_gb_together_refused(tmp_path):
    with pytest.raises(ReproError, match="one memory request"):
        _load(tmp_path, "mem_gb = 100\n[additional_parameters]\nmem_per_cpu = 4000\n")


def test_evaluation_resources_default_to_the_trainings_per_gpu_share():
    a100 = load_profile("example-a100")
    per_gpu_cpus = a100.cpus_per_task * a100.tasks_per_node // a100.gpus_per_node
    assert (a100.eval_gpus, a100.eval_cpus_per_task) == (1, per_gpu_cpus)
    assert a100.eval_mem_gb == a100.mem_gb / a100.gpus_per_node
    assert a100.eval_time_min < a100.time_min
    local = load_profile("local")
    assert (local.eval_gpus, local.eval_cpus_per_task, local.eval_mem_gb) == (0, 1, local.mem_gb)


def test_evaluation_resources_can_be_set(tmp_path):
    from repro.launch import executors

    p = _load(tmp_path, "gpus_per_node = 8\ncpus_per_task = 8\nmem_gb = 480\neval_cpus_per_task = 4\n"
                        "eval_mem_gb = 32\neval_time_min = 90\n")
    ev = executors.executor_parameters(p, "eval")
    assert (ev["gpus_per_node"], ev["cpus_per_task"], ev["mem_gb"], ev["timeout_min"], ev["nodes"],
            ev["tasks_per_node"]) == (1, 4, 32, 90, 1, 1)
    with pytest.raises(ReproError, match="one GPU"):
        _load(tmp_path, "gpus_per_node = 8\neval_gpus = 2\n")


def test_time_limit_too_short_for_the_signal_names_the_minimum(tmp_path):
    with pytest.raises(ReproError) as e:
        _load(tmp_path, "time_min = 1\nsignal_delay_s = 30\ncheckpoint_wait_s = 20\n")
    minimum = load_profile("local").min_time_min
    assert f"use time_min >= {minimum}" in str(e.value) and "60 s" in str(e.value)
    assert _load(tmp_path, f"time_min = {minimum}\nsignal_delay_s = 30\ncheckpoint_wait_s = 20\n").time_min == minimum


def test_python_from_the_profile_runs_the_job(tmp_path):
    from repro.launch import executors

    p = _load(tmp_path, 'python = "python3"\nsetup = ["source $HOME/venv/bin/activate"]\n')
    text = executors.sbatch_text(executors.make_executor(p, tmp_path / "f", "train", dry_run=True))
    command = text.split("# command")[1]
    assert " python3 -u -m repro.launch.jobstart " in command, command
    assert text.index("source $HOME/venv/bin/activate") < text.index("# command")
    default = executors.sbatch_text(executors.make_executor(load_profile("local"), tmp_path / "f", "train", dry_run=True))
    import sys

    assert f" {sys.executable} -u -m repro.launch.jobstart " in default
    with pytest.raises(ReproError, match="'python' is empty"):
        _load(tmp_path, 'python = " "\n')
