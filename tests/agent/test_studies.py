"""Study playbooks run end to end by `aihep agent run`: a fast-simulation study and a
design study, each recorded, verified and replayed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aihep.cli import app

runner = CliRunner()


def check_verify_replay(run, tmp_path, name):
    verified = runner.invoke(app, ["agent", "verify", str(run), "--json"])
    assert verified.exit_code == 0, verified.output
    replayed = runner.invoke(app, ["replay", str(run), "--out", str(tmp_path / name),
                                   "--json"])
    steps = json.loads(replayed.stdout)["steps"]
    assert replayed.exit_code == 0 and steps, replayed.output
    assert all(s["status"] == "match" for s in steps), steps


@pytest.mark.slow  # ~40 s on one core: three monitored jobs that train and evaluate
def test_fastsim_study(tmp_path):
    for name, seed in (("train", "1"), ("test", "2")):
        result = runner.invoke(app, ["calo", "simulate", "--layout", "coarse", "-n", "200",
                                     "--energy-max-gev", "2", "--chunk", "100", "--seed", seed,
                                     "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    run = tmp_path / "study"
    result = runner.invoke(app, ["agent", "run", str(tmp_path / "train" / "showers.h5"),
                                 "--playbook", "fastsim", "--test",
                                 str(tmp_path / "test" / "showers.h5"), "--epochs", "2",
                                 "--test-showers", "200", "--out", str(run), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [s["tool"] for s in out["steps"]] == ["calo_train", "calo_generate",
                                                 "calo_evaluate"]
    answer = out["answer"]
    assert not answer["failed"] and not answer["problems"]
    assert answer["n_generated"] == 200 and answer["fpd"]["value"] > 0
    assert 0.5 <= answer["classifier_low"]["auc"] <= 1.0
    check_verify_replay(run, tmp_path, "replay_fastsim")


def test_design_study(tmp_path):
    run = tmp_path / "study"
    result = runner.invoke(app, ["agent", "run", "spectrometer", "--playbook", "design",
                                 "--budget", "6", "--optimizers", "random,cma-es",
                                 "--reevaluate-events", "200", "--out", str(run), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [s["tool"] for s in out["steps"]] == ["design_run", "design_run",
                                                 "design_compare"]
    answer = out["answer"]
    assert not answer["failed"] and answer["best_optimizer"] in ("random", "cma-es")
    assert {s["optimizer"] for s in answer["summary"]} == {"random", "cma-es"}
    check_verify_replay(run, tmp_path, "replay_design")


def test_bad_playbook_is_one_line(tmp_path, one_line_error):
    out = tmp_path / "r"
    assert "--playbook weather" in one_line_error(runner.invoke(app, [
        "agent", "run", "x", "--playbook", "weather", "--out", str(out)]), out)
    assert "none.h5" in one_line_error(runner.invoke(app, [
        "agent", "run", str(tmp_path / "none.h5"), "--playbook", "fastsim", "--out",
        str(out)]), out)


def test_wall_clock_normalization_still_sees_results(tmp_path):
    from aihep.agent.replay import same_but_wall_clock

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"best_objective": 7.1, "seconds": 3.0,
                             "rows": [{"duration_s": 1, "x": 1}], "ms_per_shower": 2}))
    b.write_text(json.dumps({"best_objective": 7.1, "seconds": 5.0,
                             "rows": [{"duration_s": 9, "x": 1}], "ms_per_shower": 4}))
    assert same_but_wall_clock(a, b)
    b.write_text(json.dumps({"best_objective": 7.2, "seconds": 3.0,
                             "rows": [{"duration_s": 1, "x": 1}], "ms_per_shower": 2}))
    assert not same_but_wall_clock(a, b)
    c, d = tmp_path / "c.jsonl", tmp_path / "d.jsonl"
    c.write_text('{"hash": "aa", "prev": "00", "value": 1}\n{"hash": "bb", "value": 2}\n')
    d.write_text('{"hash": "cc", "prev": "11", "value": 1}\n{"hash": "dd", "value": 3}\n')
    assert not same_but_wall_clock(c, d)
