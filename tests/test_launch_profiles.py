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
