"""``aihep assign``: dataset, train, evaluate from the command line; bad input."""

from __future__ import annotations

import json

import h5py
import numpy as np
from ttbar_toy import M_T, M_W, hand_made
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.assignment import read_spanet, write_spanet

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
        assert (out / "manifest.json").is_file() and (out / "report.html").is_file()
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


def test_predict_without_truth_writes_assignments_and_a_report(tmp_path):
    train = write_spanet(tmp_path / "train.h5", hand_made(100, extra_jets=1, seed=2))
    data = write_spanet(tmp_path / "data.h5", hand_made(40, extra_jets=2, seed=4))
    with h5py.File(data, "a") as f:
        del f["TARGETS"]  # data: no truth
    out = tmp_path / "pred"
    result = runner.invoke(app, ["assign", "predict", str(data), "--out", str(out),
                                 "--method", "chi2", "--train-data", str(train), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["events"] == 40 and summary["both_tops_assigned"] == 1.0
    assert abs(summary["median_top_mass_gev"] - M_T) < 0.5  # hand-made tops are exact
    assigned = read_spanet(out / "assignments.h5")  # SPANet's layout, predictions as targets
    assert (assigned.targets >= 0).all() and len(assigned) == 40
    with h5py.File(out / "assignments.h5") as f:
        np.testing.assert_allclose(f["RECONSTRUCTED/t1/w_mass"][()], M_W, rtol=1e-3)
    assert {"report.html", "manifest.json", "prediction.json"} <= {
        p.name for p in out.iterdir()}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "aihep.assign.predict"
    # evaluating needs the truth: one line naming the missing field, nothing written
    result = runner.invoke(app, ["assign", "evaluate", str(data), "--out",
                                 str(tmp_path / "ev"), "--method", "chi2", "--train-data",
                                 str(train)])
    assert result.exit_code == 2 and "TARGETS/t1/b" in result.output
    assert not (tmp_path / "ev").exists()


def test_the_agent_assigns_jets_through_its_tool(tmp_path):
    """``assign_predict`` as a typed agent tool: under the policy, recorded in provenance."""
    from aihep.agent.policy import Policy
    from aihep.agent.registry import default_registry
    from aihep.agent.runner import ToolRunner, verify_run

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    train = write_spanet(data_dir / "train.h5", hand_made(60, extra_jets=1, seed=2))
    data = write_spanet(data_dir / "data.h5", hand_made(20, extra_jets=1, seed=5))
    runner_ = ToolRunner(default_registry(), Policy(read_paths=(data_dir,),
                                                    run_dir=tmp_path / "run"))
    called = runner_.call("assign_predict", {
        "data": str(data), "out": str(tmp_path / "run" / "assigned"), "method": "chi2",
        "train_data": str(train)}, "planner")
    assert called.status == "ok", called.message
    assert called.output["events"] == 20 and called.output["both_tops_assigned"] == 1.0
    assert (tmp_path / "run" / "assigned" / "assignments.h5").is_file()
    refused = runner_.call("assign_predict", {
        "data": str(tmp_path / "elsewhere.h5"), "out": str(tmp_path / "run" / "x"),
        "method": "chi2", "train_data": str(train)}, "planner")
    assert refused.status == "refused"  # outside the paths the policy lets it read
    assert verify_run(tmp_path / "run").ok
