"""aihep tag train / evaluate / predict / export from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.jetclass import write_jetclass
from aihep.tagging.data import load_jets, save_jets
from toyjets import toy_jets


def test_train_evaluate_predict_export(tmp_path):
    runner = CliRunner()
    data = save_jets(toy_jets(150, seed=4), tmp_path / "jets.parquet")
    test = write_jetclass(toy_jets(60, seed=5), tmp_path / "test.root")
    trained = runner.invoke(app, ["tag", "train", "pfn-lite", str(data), "--out",
                                  str(tmp_path / "run"), "--epochs", "3", "--features",
                                  "kinpid", "--max-particles", "32", "--json"])
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "run" / "manifest.json").is_file()
    evaluated = runner.invoke(app, ["tag", "evaluate", str(tmp_path / "run"), str(test),
                                    "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["n_jets"] == 120 and metrics["auc"]["Wqq"] > 0.7
    assert "data:image/png" in (tmp_path / "run" / "evaluation.html").read_text()
    predicted = runner.invoke(app, ["tag", "predict", str(tmp_path / "run"), str(test),
                                    "--out", str(tmp_path / "scored.parquet")])
    assert predicted.exit_code == 0, predicted.output
    scored = load_jets(tmp_path / "scored.parquet")
    assert {"score_QCD", "score_Wqq"} <= set(scored.fields())
    pytest.importorskip("onnxruntime")
    exported = runner.invoke(app, ["tag", "export", str(tmp_path / "run"), "--out",
                                   str(tmp_path / "tagger.onnx")])
    assert exported.exit_code == 0 and (tmp_path / "tagger.onnx").stat().st_size > 0


def test_clear_errors(tmp_path):
    runner = CliRunner()
    (tmp_path / "jets.csv").write_text("a,b\n")
    bad_type = runner.invoke(app, ["tag", "train", "pfn", str(tmp_path / "jets.csv"), "--out",
                                   str(tmp_path / "run")])
    assert bad_type.exit_code == 2 and "file type" in bad_type.output
    data = save_jets(toy_jets(20, seed=4), tmp_path / "jets.parquet")
    bad_model = runner.invoke(app, ["tag", "train", "resnet", str(data), "--out",
                                    str(tmp_path / "run")])
    assert bad_model.exit_code == 2 and "unknown model 'resnet'" in bad_model.output
    no_run = runner.invoke(app, ["tag", "evaluate", str(tmp_path / "nothing"), str(data)])
    assert no_run.exit_code == 2 and "tagger run directory" in no_run.output


def test_agent_tools_train_and_evaluate(tmp_path):
    from aihep.agent.tools import default_registry

    registry = default_registry()
    data = save_jets(toy_jets(100, seed=6), tmp_path / "jets.parquet")
    train = registry.get("tag_train")
    args = train.validate({"data": str(data), "out": str(tmp_path / "run"),
                           "model": "pfn-lite", "feature_set": "kinpid", "max_particles": 32,
                           "epochs": 2})
    assert train.paths(args, "writes") == [tmp_path / "run"] and train.job
    summary = train(args)
    assert 0 <= summary["validation"]["accuracy"] <= 1
    evaluate = registry.get("tag_evaluate")
    result = evaluate(evaluate.validate({"run": str(tmp_path / "run"), "data": str(data),
                                         "out": str(tmp_path / "eval")}))
    assert result["n_jets"] == 200 and (tmp_path / "eval" / "evaluation.html").is_file()
    bad = pytest.raises(Exception, match="feature_set")
    with bad:
        train.validate({"data": str(data), "out": "x", "feature_set": "everything"})


def test_dataset_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["tag", "dataset", "top", "--out", str(tmp_path / "top"),
                                 "--jets-per-class", "10", "--events-per-chunk", "100",
                                 "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["per_class"] == {"QCD": 10, "Top": 10}
    bad = runner.invoke(app, ["tag", "dataset", "charm", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown tagging dataset 'charm'" in bad.output
