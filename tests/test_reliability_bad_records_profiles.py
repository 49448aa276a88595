"""Bad records, tables and cluster profiles: records that would make a table lie (dates, types,
sizes, files that are not records), a full disk while the tables are written, SLURM out of reach,
and profiles that would inject or overflow sbatch fields. Every case goes through the CLI, exits 2
with ONE line on stderr that names the problem, and writes or changes nothing. Rows, data and
checkpoints: test_reliability_bad_inputs.py; the corpus: tests/bad_inputs/.
"""
import errno
import os
import shutil

import pytest

from helpers.bad_inputs import CORPUS, check_case, snapshot
from repro.cli import main
from repro.io import ReproError


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


def _disk_full(tmp, monkeypatch):
    """The tables exist; a new record makes one stale; then every fsync fails with ENOSPC."""
    assert main(["tables"]) == 0
    _valid_record()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)


def _slurm_unreachable(tmp, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp / "empty-bin"))


def _record_with(tmp, **changes):
    """A valid demo record, one protocol field or the date replaced, placed in the registry."""
    import json

    from repro.results.records import make_record
    from repro.rows import load_row
    rec = make_record(load_row("demo/digits/nfe1"), {"w2_pixels": 1.0}, {"impl": "t"}, None,
                      {"wall_s": 1.0, "gpu_hours": 0.0, "steps": 1},
                      extra={"git": {"commit": "a" * 40, "dirty": False}})
    for k, v in changes.items():
        if k in ("date", "row"):
            rec[k] = v
        else:
            rec["protocol"][k] = v
    d = tmp / "tables" / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True, exist_ok=True)
    (d / "20250101T000000000000Z-bad.json").write_text(json.dumps(rec))


def _fifo_record(tmp):
    d = tmp / "tables" / "results" / "demo" / "digits" / "nfe1"
    d.mkdir(parents=True)
    os.mkfifo(d / "20250101T000000000000Z-fifo.json")


def _outside_link(tmp):
    import json
    _record_with(tmp)
    src = tmp / "tables" / "results" / "demo" / "digits" / "nfe1" / "20250101T000000000000Z-bad.json"
    outside = tmp / "outside.json"
    outside.write_text(src.read_text())
    src.unlink()
    src.symlink_to(outside)


def _profile(tmp, text, raw=False):
    p = tmp / "site.toml"
    p.write_bytes(text if raw else text.encode())
    return str(p)


# id: (setup(tmp, monkeypatch, ckpt) -> argv, expected substrings of the one stderr line)
CASES = {
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
    # -- records that would make a table lie
    "record_num_samples_infinite": (lambda t, m, c: (_record_with(t, num_samples=float("inf")), ["tables"])[1],
                                    ["protocol.num_samples = inf", "non-negative integer"]),
    "record_num_samples_list": (lambda t, m, c: (_record_with(t, num_samples=[1, 2]), ["tables"])[1],
                                ["protocol.num_samples = [1, 2]"]),
    "record_dated_2099": (lambda t, m, c: (_record_with(t, date="2099-01-01T00:00:00.000000Z"), ["tables"])[1],
                          ["lies in the future"]),
    "record_impossible_date": (lambda t, m, c: (_record_with(t, date="2099-99-99T99:99:99.000000Z"),
                                                ["tables"])[1], ["is not a real date"]),
    "record_huge_string": (lambda t, m, c: (_record_with(t, impl="x" * 2_000_000), ["tables"])[1],
                           ["larger than any record"]),
    "record_fifo": (lambda t, m, c: (_fifo_record(t), ["tables", "--check"])[1], ["not a regular file"]),
    "record_symlink_outside": (lambda t, m, c: (_outside_link(t), ["tables"])[1],
                               ["a symlink leaving the registry"]),
    "record_unknown_row": (lambda t, m, c: (_record_with(t, row="demo/digits/nfe7"), ["tables", "--check"])[1],
                           ["holds row 'demo/digits/nfe7' but lies under demo/digits/nfe1/"]),
    # -- cluster profiles
    "profile_newline_in_partition": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile",
                                                      _profile(t, 'partition = "gpu\\n#SBATCH --wrap=x"\n')],
                                     ["field 'partition' holds a control character"]),
    "profile_nodes_huge": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile",
                                            _profile(t, "nodes = 100000000000\n")], ["is out of range"]),
    "profile_nodes_float": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile",
                                             _profile(t, "nodes = 1e20\n")], ["must be a non-negative integer"]),
    "profile_not_utf8": (lambda t, m, c: ["submit", "demo/digits/nfe1", "--dry-run", "--profile",
                                          _profile(t, b'partition = "\xff"\n', raw=True)], ["not UTF-8 text"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, isolated, monkeypatch, capsys):
    check_case(case, *CASES[case], isolated, monkeypatch, capsys)


def test_stale_tables_check_exits_1_with_a_diff(isolated, capsys):
    assert main(["tables"]) == 0
    _valid_record()
    capsys.readouterr()
    before = snapshot(isolated)
    assert main(["tables", "--check"]) == 1
    out = capsys.readouterr().out
    assert "---" in out and "+++" in out and "stale or missing; run `repro tables`" in out
    assert snapshot(isolated) == before


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
