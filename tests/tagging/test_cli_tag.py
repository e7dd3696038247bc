"""aihep tag train / evaluate / predict / export from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.jetclass import write_jetclass
from aihep.io.jets import load_jets, save_jets
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
    from aihep.agent.registry import default_registry

    registry = default_registry()
    data = save_jets(toy_jets(100, seed=6), tmp_path / "jets.parquet")
    train = registry.get("tag_train")
    args = train.validate({"data": str(data), "out": str(tmp_path / "run"), "config": {
        "model": "pfn-lite", "feature_set": "kinpid", "max_particles": 32,
        "train": {"epochs": 2}}})
    assert train.paths(args, "writes") == [tmp_path / "run"] and train.job
    summary = train(args)
    # 40 validation jets (a stratified 20% of 2 x 100): the accuracy is a count of them
    assert float(summary["validation"]["accuracy"] * 40).is_integer()
    evaluate = registry.get("tag_evaluate")
    result = evaluate(evaluate.validate({"run": str(tmp_path / "run"), "data": str(data),
                                         "out": str(tmp_path / "eval")}))
    assert result["n_jets"] == 200 and (tmp_path / "eval" / "evaluation.html").is_file()
    assert float(result["accuracy"] * 200).is_integer()
    bad = pytest.raises(Exception, match="feature_set")
    with bad:
        train.validate({"data": str(data), "out": "x", "config": {"feature_set": "everything"}})


def test_dataset_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["tag", "dataset", "top", "--out", str(tmp_path / "top"),
                                 "--jets-per-class", "10", "--events-per-chunk", "100",
                                 "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["per_class"] == {"QCD": 10, "Top": 10}
    bad = runner.invoke(app, ["tag", "dataset", "charm", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown tagging dataset 'charm'" in bad.output


def test_damaged_files_and_taken_outputs_are_one_line(tmp_path):
    """Truncated ROOT, truncated or garbage HDF5 and Parquet, and an --out that is taken: one
    line and exit code 2 each, nothing written (each gave a traceback before)."""
    from aihep.io.toptagging import write_top_tagging

    runner = CliRunner()
    data = save_jets(toy_jets(80, seed=4), tmp_path / "jets.parquet")
    trained = runner.invoke(app, ["tag", "train", "pfn-lite", str(data), "--out",
                                  str(tmp_path / "run"), "--epochs", "1", "--features",
                                  "kinpid", "--max-particles", "16"])
    assert trained.exit_code == 0, trained.output
    root = write_jetclass(toy_jets(40, seed=5), tmp_path / "full.root").read_bytes()
    bad = {"truncated.root": root[: len(root) * 2 // 3], "garbage.h5": b"\x89HDF\r\n" * 50,
           "truncated.parquet": data.read_bytes()[:300]}
    top = write_top_tagging(toy_jets(30, seed=6), tmp_path / "top.h5")
    bad["truncated.h5"] = top.read_bytes()[: top.stat().st_size // 2]
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        for command in ("evaluate", "predict"):
            out = tmp_path / f"out_{command}_{name}.parquet"
            args = ["tag", command, str(tmp_path / "run"), str(tmp_path / name), "--out",
                    str(out)]
            result = runner.invoke(app, args)
            assert result.exit_code == 2, (name, command, result.output)
            assert name in result.stderr and "Traceback" not in result.output
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert not out.exists()
    (tmp_path / "taken").mkdir()
    taken = runner.invoke(app, ["tag", "predict", str(tmp_path / "run"), str(data), "--out",
                                str(tmp_path / "taken")])
    assert taken.exit_code == 2 and "is a directory" in taken.stderr
    first = runner.invoke(app, ["tag", "predict", str(tmp_path / "run"), str(data), "--out",
                                str(tmp_path / "s.parquet")])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["tag", "predict", str(tmp_path / "run"), str(data), "--out",
                                str(tmp_path / "s.parquet")])
    assert again.exit_code == 2 and "--force" in again.stderr


def test_fastjet_banner_never_reaches_stdout():
    """`--json` output must be the first thing on stdout: FastJet prints a banner at first use
    (a fresh process, since the banner comes once per process)."""
    import subprocess
    import sys

    code = ("import awkward as ak, numpy as np\n"
            "from aihep.events.substructure import nsubjettiness\n"
            "rng = np.random.default_rng(1)\n"
            "c = ak.Array([[{'px': float(x), 'py': float(y), 'pz': float(z), 'E': 50.0}\n"
            "               for x, y, z in rng.normal(5, 1, (6, 3))] for _ in range(3)])\n"
            "nsubjettiness(c, 1.0, 3)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
