"""``aihep assign``: dataset, train, evaluate from the command line; bad input."""

from __future__ import annotations

import json

from ttbar_toy import hand_made
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.assignment import write_spanet

runner = CliRunner()


def test_train_and_evaluate_on_a_spanet_file(tmp_path):
    data = write_spanet(tmp_path / "train.h5", hand_made(200, extra_jets=1, seed=2))
    test = write_spanet(tmp_path / "test.h5", hand_made(60, extra_jets=1, seed=3))
    run = tmp_path / "run"
    result = runner.invoke(app, ["assign", "train", str(data), "--out", str(run), "--epochs",
                                 "2", "--hidden", "16", "--layers", "1", "--attention", "full",
                                 "--embed-layers", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"] > 16 ** 3  # the full attention tensors
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["attention"], model["embed_layers"]) == ("full", 3)
    for method, extra in (("aihep-spanet", ["--run", str(run)]),
                          ("chi2", ["--train-data", str(data)])):
        out = tmp_path / method
        result = runner.invoke(app, ["assign", "evaluate", str(test), "--out", str(out),
                                     "--method", method, *extra, "--json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["rows"]
        assert {r["njets"] for r in rows} == {"6", "7", ">=8", "all"}
        assert (out / "manifest.json").is_file()
    chi2 = json.loads((tmp_path / "chi2" / "evaluation.json").read_text())
    matched = next(r for r in chi2["rows"] if r["njets"] == "all" and r["subset"] == "matched")
    assert matched["event_efficiency"] > 0.9  # exact hand-made tops


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    result = runner.invoke(app, ["assign", "train", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.output.strip().startswith("error:")
    assert not (tmp_path / "r").exists()
    result = runner.invoke(app, ["assign", "evaluate", str(bad), "--out", str(tmp_path / "e"),
                                 "--method", "hungarian"])
    assert result.exit_code == 2 and "--method hungarian" in result.output
