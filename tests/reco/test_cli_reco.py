"""aihep reco commands and agent tools, end to end on a tiny detector."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from aihep.cli import app
from aihep.reco.geometry import LayoutConfig, hexagonal_layout, save_geometry


def test_simulate_train_evaluate_from_the_command_line(tmp_path):
    geometry = save_geometry(hexagonal_layout(LayoutConfig(n_strings=19, doms_per_string=10)),
                             tmp_path / "geometry.csv")
    runner = CliRunner()
    sim = tmp_path / "sim"
    result = runner.invoke(app, ["reco", "simulate", "--out", str(sim), "-n", "24",
                                 "--geometry", str(geometry), "--energy-min-tev", "10",
                                 "--seed", "3"])
    assert result.exit_code == 0, result.output
    data = sim / "events.parquet"
    result = runner.invoke(app, ["reco", "train", "gnn-lite", str(data), "--out",
                                 str(tmp_path / "gnn"), "--epochs", "1", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["reco", "train", "gnn-lite", str(data), "--out",
                                 str(tmp_path / "refiner"), "--epochs", "1", "--batch-size", "8",
                                 "--refine-from", str(tmp_path / "gnn")])
    assert result.exit_code == 0, result.output
    for method, extra in (("linefit", []), ("gnn", ["--run", str(tmp_path / "refiner")]),
                          ("gnn", ["--run", str(tmp_path / "gnn")]),  # the seeds below
                          ("likelihood", ["--limit", "3"]), ("likelihood-batched", []),
                          ("gnn+likelihood", ["--run", str(tmp_path / "gnn")])):
        result = runner.invoke(app, ["reco", "evaluate", method, str(data), "--json",
                                     "--out", str(tmp_path / "eval"), *extra])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output[result.output.index("{"):])
        assert summary["method"] == method and summary["failed_fraction"] < 0.5
    assert (tmp_path / "eval" / "manifest.json").is_file()
    line = json.loads((tmp_path / "eval" / "resolution_linefit.json").read_text())
    assert line["median_deg"] < 20  # a line fit of >= 10 TeV tracks
    like = json.loads((tmp_path / "eval" / "resolution_likelihood.json").read_text())
    assert like["median_deg"] < 1.0 and like["n_events"] == 3
    batched = json.loads((tmp_path / "eval" / "resolution_likelihood-batched.json").read_text())
    assert batched["median_deg"] < 1.0 and batched["n_events"] == 24
    # the one-epoch GNN's seeds are ~6 deg off (its weights, hence the seeds, depend on
    # torch's thread count); the seeded fit's trust radius is sized for a trained GNN, so
    # ask for a large improvement over the seeds (0.56 deg with 1 thread, 1.40 with 2)
    gnn = json.loads((tmp_path / "eval" / "resolution_gnn.json").read_text())
    seeded = json.loads((tmp_path / "eval" / "resolution_gnn+likelihood.json").read_text())
    assert seeded["n_events"] == 24 and seeded["median_deg"] < min(2.0, 0.3 * gnn["median_deg"])
    page = (tmp_path / "eval" / "report_likelihood.html").read_text()
    assert "angular error vs muon energy" in page and "data:image/png;base64," in page


def test_bad_inputs_are_one_line_errors(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    result = runner.invoke(app, ["reco", "simulate", "--out", str(tmp_path / "s"),
                                 "--geometry", str(bad)])
    assert result.exit_code != 0 and "header" in result.output
    assert "Traceback" not in result.output
    empty = tmp_path / "empty.parquet"
    empty.write_text("not parquet")
    result = runner.invoke(app, ["reco", "evaluate", "linefit", str(empty)])
    assert result.exit_code != 0 and "Parquet" in result.output
    result = runner.invoke(app, ["reco", "evaluate", "gnn", str(empty)])
    assert result.exit_code != 0
    result = runner.invoke(app, ["reco", "train", "gnn-lite", str(empty), "--out",
                                 str(tmp_path / "r"), "--refine-from", str(tmp_path / "none")])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_reco_tools_are_registered():
    from aihep.agent.registry import default_registry

    registry = default_registry()
    for name in ("reco_simulate", "reco_train", "reco_evaluate"):
        assert registry.get(name).job
    evaluate = registry.get("reco_evaluate")
    args = evaluate.validate({"method": "linefit", "data": "events.parquet"})
    assert [str(p) for p in evaluate.paths(args, "reads")] == ["events.parquet"]
