"""PID from files: track files, ``aihep pid simulate|train|evaluate``, reports, bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from aihep.cli import app
from aihep.pid.data import DomainConfig, generate_tracks
from aihep.pid.files import METHODS, read_tracks, write_tracks

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pid")
    for domain, seed in (("simulation", 3), ("data", 4)):
        result = runner.invoke(app, ["pid", "simulate", "--out", str(root / domain),
                                     "--domain", domain, "--events", "150", "--seed",
                                     str(seed), "--json"])
        assert result.exit_code == 0, result.output
    return root


def test_track_file_round_trip(tmp_path):
    tracks = generate_tracks(DomainConfig(), 40, seed=2)
    back = read_tracks(write_tracks(tmp_path / "t.parquet", tracks), labels=True)
    assert np.array_equal(back.species, tracks.species)
    for name in ("its", "tpc", "tof", "trd"):  # NaN (absent) survives
        np.testing.assert_array_equal(getattr(back.signals, name), getattr(tracks.signals, name))
    np.testing.assert_allclose(back.momentum, tracks.momentum)
    assert np.array_equal(back.event, tracks.event)


def test_train_and_evaluate_from_the_command_line(files):
    sim, data = files / "simulation" / "tracks.parquet", files / "data" / "tracks.parquet"
    for method, extra in (("hgb", []), ("nsigma", ["--data", str(data)]),
                          ("transformer+dann", ["--data", str(data), "--epochs", "1"])):
        run = files / f"run_{method}"
        result = runner.invoke(app, ["pid", "train", str(sim), "--out", str(run), "--method",
                                     method, *extra, "--json"])
        assert result.exit_code == 0, (method, result.output)
        out = files / f"eval_{method}"
        result = runner.invoke(app, ["pid", "evaluate", str(run), str(data), "--out",
                                     str(out), "--json"])
        assert result.exit_code == 0, (method, result.output)
        evaluation = json.loads(result.stdout)
        perf = evaluation["performance"]
        assert perf["all"]["tracks"] == perf["with_tof"]["tracks"] + perf["without_tof"][
            "tracks"]
        assert sum(map(sum, perf["all"]["confusion"])) == perf["all"]["tracks"]
        assert 0 <= perf["all"]["f1_macro"] <= 1
        by = perf["by_detectors"]  # every track in exactly one set, all sets have the TPC
        assert sum(v["tracks"] for v in by.values()) == perf["all"]["tracks"]
        assert all("TPC" in name.split("+") for name in by)
        assert sum(v["tracks"] for k, v in by.items() if "TOF" in k.split("+")) == perf[
            "with_tof"]["tracks"]
        assert "F1 by the detectors present" in (out / "report.html").read_text()
        probabilities = np.load(out / "probabilities.npz")["probabilities"]
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-4)
        assert (out / "report.html").is_file() and (out / "manifest.json").is_file()
    gain = json.loads((files / "run_nsigma" / "pid.json").read_text())["detector"]["tpc_gain"]
    assert gain != 1.0  # recalibrated on the data's V0 pions (the data gain is +2.5%)


def test_unlabelled_file_gets_probabilities_only(files, tmp_path):
    table = pq.read_table(files / "data" / "tracks.parquet").drop_columns(["species"])
    pq.write_table(table, tmp_path / "nolabels.parquet")
    result = runner.invoke(app, ["pid", "evaluate", str(files / "run_hgb"),
                                 str(tmp_path / "nolabels.parquet"), "--out",
                                 str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["performance"] is None
    assert (tmp_path / "out" / "probabilities.npz").is_file()
    assert not (tmp_path / "out" / "report.html").exists()


def test_bad_input_is_one_line(files, tmp_path, one_line_error):
    good = pq.read_table(files / "simulation" / "tracks.parquet")
    bad = {
        "no_tpc.parquet": (good.drop_columns(["tpc"]), "tpc: expected a numeric column"),
        "inf.parquet": (good.set_column(good.column_names.index("tof"), "tof",
                                        pa.array(np.full(len(good), np.inf))),
                        "tof: expected finite signals or NaN"),
        "species.parquet": (good.set_column(good.column_names.index("species"), "species",
                                            pa.array(np.full(len(good), 7))),
                            "species: expected 0-3"),
        "tpc_nan.parquet": (good.set_column(good.column_names.index("tpc"), "tpc", pa.array(
            np.r_[np.nan, good.column("tpc").to_numpy()[1:]])), "tpc: expected a TPC signal"),
        "negative.parquet": (good.set_column(0, "p_gev", pa.array(np.full(len(good), -1.0))),
                             "p_gev: expected finite momenta > 0"),
    }
    for name, (table, _message) in bad.items():
        pq.write_table(table, tmp_path / name)
    (tmp_path / "junk.parquet").write_text("not parquet")
    cases = [[str(tmp_path / n), "--method", "hgb"] for n in bad] + [
        [str(tmp_path / "junk.parquet")],
        [str(files / "simulation" / "tracks.parquet"), "--method", "transformer+dann"],
        [str(files / "simulation" / "tracks.parquet"), "--method", "knn"]]
    messages = [m for _, m in bad.values()] + ["a Parquet track file", "needs --data",
                                                "method knn: expected one of"]
    for args, message in zip(cases, messages, strict=True):
        out = tmp_path / "out"
        assert message in one_line_error(runner.invoke(app, ["pid", "train", *args, "--out",
                                                             str(out)]), out)


def test_cli_method_names_are_the_codes():
    from aihep.cli.pid import METHOD_NAMES

    assert METHOD_NAMES == METHODS
