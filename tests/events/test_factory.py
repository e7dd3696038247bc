"""Generation: reproducibility across workers and seeds, resume, bad input, manifests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import awkward as ak
import pytest

from aihep.errors import ConfigError, OutputError
from aihep.events import GenerationConfig, generate
from aihep.io.eventstore import chunk_paths, read_events
from aihep.workflow.executor import ExecutorConfig
from aihep.workflow.manifest import sha256_file


def _hashes(directory):
    manifest = json.loads((directory / "manifest.json").read_text())
    return [o["sha256"] for o in manifest["outputs"]]


def test_same_seed_same_content_for_one_and_two_workers(small_config, tmp_path):
    one = generate(small_config, tmp_path / "one")
    two = generate(small_config, tmp_path / "two", ExecutorConfig(kind="local", workers=2))
    assert one.n_events == two.n_events == 120
    assert ak.array_equal(one.read(), two.read())
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two")


def test_different_seeds_differ(small_config, tmp_path):
    a = generate(small_config, tmp_path / "a").read()
    b = generate(small_config.model_copy(update={"seed": 6}), tmp_path / "b").read()
    assert not ak.array_equal(a.n_particles, b.n_particles)


def test_manifest_records_run(small_config, tmp_path):
    generate(small_config, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 5
    assert manifest["config"]["process"] == "qcd-dijet"
    assert manifest["versions"]["pythia8mc"] == "8.317.2"
    assert manifest["counts"]["n_events"] == 120
    seeds = [c["pythia_seed"] for c in manifest["chunks"]]
    assert len(set(seeds)) == 3 and all(1 <= s <= 900_000_000 for s in seeds)
    for entry in manifest["outputs"]:
        assert sha256_file(tmp_path / entry["path"]) == entry["sha256"]
    assert "PartonLevel:MPI = off" in manifest["process"]["pythia_settings"]


def test_resume_after_lost_chunk_equals_uninterrupted(small_config, tmp_path):
    full = generate(small_config, tmp_path / "full").read()
    part = tmp_path / "part"
    generate(small_config, part)
    (part / "manifest.json").unlink()
    for path in chunk_paths(part, 1):
        path.unlink()
    resumed = generate(small_config, part)
    assert resumed.resumed_chunks == 2
    assert ak.array_equal(resumed.read(), full)


def test_resume_after_killed_process_equals_uninterrupted(small_config, tmp_path):
    config = small_config.model_copy(update={"n_events": 400, "chunk_size": 50})
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "aihep", "generate", "qcd-dijet", "--out", str(out),
           "--events", "400", "--chunk-size", "50", "--seed", "5", "--detector", "truth",
           "--set", "PartonLevel:MPI = off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "events").glob("chunk-*.json"))
                                         if (out / "events").exists() else []) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    assert (out / "run.json").exists()
    resumed = generate(config, out)
    assert 2 <= resumed.resumed_chunks < 8
    assert ak.array_equal(resumed.read(), generate(config, tmp_path / "clean").read())


def test_selection_truncates_to_requested_count(small_config, tmp_path):
    from aihep.events.config import SelectionConfig

    config = small_config.model_copy(update={
        "n_events": 30, "selection": SelectionConfig(min_jets=2, leading_jet_pt_min_gev=1100)})
    result = generate(config, tmp_path)
    events = result.read()
    assert len(events) == 30
    assert ak.all(events.jets.pt[:, 0] > 1100)
    assert result.n_generated > 30
    assert not list(tmp_path.glob("events/*.tmp"))


def test_constituent_quality_cut(small_config, tmp_path):
    from aihep.events.config import SelectionConfig

    config = small_config.model_copy(update={
        "n_events": 20, "selection": SelectionConfig(min_jets=2, min_jet_constituents=60)})
    events = generate(config, tmp_path).read()
    assert len(events) == 20
    assert ak.all(events.jets.n_constituents >= 60)


def test_lhco_samples_require_defined_tau21():
    from aihep.events.lhco import LHCOConfig

    assert LHCOConfig().generation("background").selection.min_jet_constituents == 2


def test_non_positive_events_rejected():
    with pytest.raises(ValueError, match="must be positive"):
        GenerationConfig(process="qcd-dijet", n_events=0)


def test_invalid_setting_leaves_nothing(small_config, tmp_path):
    bad = small_config.model_copy(update={"settings": ["NoSuch:thing = 1"]})
    with pytest.raises(ConfigError, match="NoSuch:thing"):
        generate(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unwritable_output_dir(small_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="cannot create output directory"):
        generate(small_config, blocker / "out")


def test_foreign_directory_is_not_overwritten(small_config, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not empty"):
        generate(small_config, tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_read_events_matches_result(small_config, tmp_path):
    result = generate(small_config, tmp_path)
    events = read_events(tmp_path)
    assert len(events) == result.n_events
    assert set(events.fields) >= {"event_id", "label", "weight", "mhat_gev", "jets"}
    assert set(events.jets.fields) >= {"pt", "eta", "phi", "mass", "tau1", "tau2", "tau3",
                                       "msd", "constituents"}


@pytest.mark.parametrize("finished", [False, True])
def test_a_truncated_chunk_is_generated_again_not_resumed(small_config, tmp_path, finished):
    """A chunk whose bytes differ from its recorded SHA-256 (truncated by a crash or a full
    disk) is made again on resume; before, it was "resumed" and reading failed later."""
    full = generate(small_config, tmp_path / "full").read()
    part = tmp_path / "part"
    generate(small_config, part)
    if not finished:
        (part / "manifest.json").unlink()
    chunk = chunk_paths(part, 0)[0]
    chunk.write_bytes(chunk.read_bytes()[:200])
    resumed = generate(small_config, part)
    assert ak.array_equal(resumed.read(), full)
    assert _hashes(part) == _hashes(tmp_path / "full")


def test_info_check_rehashes_the_manifest_outputs(small_config, tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    generate(small_config, tmp_path / "d")
    cli = CliRunner()
    ok = cli.invoke(app, ["info", str(tmp_path / "d"), "--check", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["check"]["files"] == 3
    chunk = chunk_paths(tmp_path / "d", 1)[0]
    chunk.write_bytes(chunk.read_bytes()[:-10])
    bad = cli.invoke(app, ["info", str(tmp_path / "d"), "--check", "--json"])
    assert bad.exit_code == 1
    assert "chunk-000001.parquet: SHA-256 differs" in json.loads(bad.stdout)["check"][
        "problems"][0]


def test_hunt_onto_a_dataset_is_refused_without_force(small_config, tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    generate(small_config, tmp_path / "d")
    before = (tmp_path / "d" / "manifest.json").read_bytes()
    table = tmp_path / "t.csv"
    table.write_text(",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
                     "0,3000,100,50,0.5,0.5\n")
    result = CliRunner().invoke(app, ["hunt", str(table), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "another command" in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "d" / "manifest.json").read_bytes() == before
    assert not (tmp_path / "d" / "report.html").exists()
