"""``aihep calo`` from the command line: simulate, evaluate, one-line errors."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.calo import ShowerSet, write_showers


def test_simulate_then_evaluate(tmp_path):
    runner = CliRunner()
    for name, seed in (("ref", "1"), ("gen", "2")):
        result = runner.invoke(app, ["calo", "simulate", "--layout", "coarse", "-n", "40",
                                     "--energy-max-gev", "2", "--chunk", "20", "--seed", seed,
                                     "--out", str(tmp_path / name), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["showers"] == 40
    result = runner.invoke(app, ["calo", "evaluate", str(tmp_path / "ref" / "showers.h5"),
                                 str(tmp_path / "gen" / "showers.h5"), "--layout", "coarse",
                                 "--epochs", "2", "--out", str(tmp_path / "eval"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    # two samples of the same simulation: small distances
    assert metrics["classifier_low"]["auc"] < 0.75
    assert metrics["separation_power"]["e_tot_over_e_inc"] < 0.5
    assert (tmp_path / "eval" / "evaluation.json").is_file()
    assert (tmp_path / "eval" / "manifest.json").is_file()
    assert (tmp_path / "eval" / "report.html").stat().st_size > 10_000  # figures embedded
    gflash = runner.invoke(app, ["calo", "gflash", str(tmp_path / "ref" / "showers.h5"),
                                 "--layout", "coarse", "-n", "40", "--out",
                                 str(tmp_path / "gf"), "--json"])
    assert gflash.exit_code == 0, gflash.output
    assert (tmp_path / "gf" / "gflash.json").is_file()
    judged = runner.invoke(app, ["calo", "evaluate", str(tmp_path / "ref" / "showers.h5"),
                                 str(tmp_path / "gf" / "showers.h5"), "--layout", "coarse",
                                 "--no-classifier", "--out", str(tmp_path / "eval_gf"),
                                 "--json"])
    assert judged.exit_code == 0, judged.output
    assert json.loads(judged.stdout)["classifier_low"] is None
    table = runner.invoke(app, ["calo", "evaluate", str(tmp_path / "ref" / "showers.h5"),
                                str(tmp_path / "gf" / "showers.h5"), "--layout", "coarse",
                                "--no-classifier", "--out", str(tmp_path / "eval_gf")])
    assert table.exit_code == 0, table.output  # the same evaluation, printed for a person
    fpd = json.loads(judged.stdout)["fpd"]["value"]
    assert "FPD  " in table.stdout and f"{fpd:.3g}" in table.stdout and "{" not in table.stdout
    trained = runner.invoke(app, ["calo", "train", "vae", str(tmp_path / "gf" / "showers.h5"),
                                  "--layout", "coarse", "--epochs", "2", "--out",
                                  str(tmp_path / "vae"), "--json"])
    assert trained.exit_code == 0, trained.output
    made = runner.invoke(app, ["calo", "generate", str(tmp_path / "vae"), "-n", "30",
                               "--out", str(tmp_path / "vae_showers"), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["showers"] == 30
    bad_kind = runner.invoke(app, ["calo", "train", "gan", str(tmp_path / "gf" / "showers.h5"),
                                   "--layout", "coarse", "--out", str(tmp_path / "gan")])
    assert bad_kind.exit_code == 2 and "kind" in bad_kind.stderr
    assert bad_kind.stderr.strip().count("\n") == 0 and "training" not in bad_kind.stderr
    assert not (tmp_path / "gan").exists()
    (tmp_path / "not.h5").write_text("a,b\n1,2\n")
    bad_file = runner.invoke(app, ["calo", "train", "vae", str(tmp_path / "not.h5"),
                                   "--layout", "coarse", "--out", str(tmp_path / "nf")])
    assert bad_file.exit_code == 2 and bad_file.stderr.strip().count("\n") == 0
    assert "not.h5" in bad_file.stderr and not (tmp_path / "nf").exists()


def test_a_file_in_gev_is_one_clear_line(tmp_path):
    rng = np.random.default_rng(1)
    bad = write_showers(ShowerSet(rng.uniform(1, 100, 10), rng.random((10, 288))),
                        tmp_path / "gev.h5")
    result = CliRunner().invoke(app, ["calo", "evaluate", str(bad), str(bad), "--layout",
                                      "coarse", "--out", str(tmp_path / "e")])
    assert result.exit_code == 2 and "GeV suspected" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "e").exists()
    wrong = CliRunner().invoke(app, ["calo", "simulate", "--layout", "ds9", "--out",
                                     str(tmp_path / "s")])
    assert wrong.exit_code == 2 and "unknown layout 'ds9'" in wrong.stderr
    no_run = CliRunner().invoke(app, ["calo", "export", str(tmp_path), "--out",
                                      str(tmp_path / "x.onnx")])
    assert no_run.exit_code == 2 and "surrogate.pt" in no_run.stderr
    assert "Traceback" not in no_run.output and not (tmp_path / "x.onnx").exists()


def test_agent_tools_are_registered_as_jobs(tmp_path):
    from aihep.agent.registry import default_registry

    registry = default_registry()
    simulate = registry.get("calo_simulate")
    args = simulate.validate({"config": {"n_showers": 10}, "out": str(tmp_path / "s")})
    assert simulate.job and simulate.paths(args, "writes") == [tmp_path / "s"]
    evaluate = registry.get("calo_evaluate")
    args = evaluate.validate({"reference": "a.h5", "generated": "b.h5", "out": "e",
                              "layout": {"cell": [{"material": "W", "thickness_mm": 2.0},
                                                  {"material": "Si", "thickness_mm": 0.3,
                                                   "active": True}],
                                         "n_cells": 10, "radial_edges_mm": [0, 10]}})
    assert [str(p) for p in evaluate.paths(args, "reads")] == ["a.h5", "b.h5"]
