"""Agents-of-Discovery task mode: discover the files, solve, write scores/answers/report,
evaluate against the truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy import toy_table

from aihep.agent.runner import verify_run
from aihep.agent.solve import discover_task, evaluate, solve
from aihep.errors import InputError

FAST = {"n_folds": 2, "n_toys": 20, "keep_fraction": 0.05, "scan_range_gev": [3100, 3900],
        "classifier": {"n_ensemble": 1, "max_iter": 60}, "opinion_seeds": 1,
        # the fallback hunts (CATHODE, autoencoder) run as trials of the answer whatever the
        # first one found: one small flow and a short autoencoder training keep them minutes
        # (the default 3-flow CATHODE mixture took ~10 min of this module's setup)
        "flow": {"ensemble": 1, "transforms": 2, "hidden_features": [32, 32],
                 "train": {"epochs": 8, "batch_size": 256, "patience": 3}},
        "outlier": {"autoencoder": {"train": {"epochs": 8, "batch_size": 256,
                                              "learning_rate": 3e-3, "patience": 3}}}}
N_BKG, N_SIG = 10000, 300  # the task's events: background, injected resonance (3.5 TeV)
COLUMNS = ("mjj", "mj1", "delta_mj", "tau21_j1", "tau21_j2")


def _write_csv(path, table, shuffle_seed: int | None = None):
    """The layout pandas writes: an unnamed index column first."""
    rows = np.arange(len(table["mjj"]))
    if shuffle_seed is not None:
        rows = np.random.default_rng(shuffle_seed).permutation(rows)
    with open(path, "w") as handle:
        handle.write(",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n")
        for i in rows:
            handle.write(f"{i}," + ",".join(f"{table[c][i]:.6g}" for c in COLUMNS) + "\n")
    return path


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    base = tmp_path_factory.mktemp("task")
    task = base / "task"
    task.mkdir()
    data = toy_table(N_BKG, N_SIG, 11)
    _write_csv(task / "events_anomalydetection_challenge.csv", data, shuffle_seed=1)
    _write_csv(task / "background_only.csv", toy_table(N_BKG, 0, 12))
    labels = base / "labels.csv"
    labels.write_text("index,label\n" + "".join(
        f"{i},{int(i >= N_BKG)}\n" for i in range(N_BKG + N_SIG)))
    answers = solve(task, base / "run", seed=2, hunt=FAST)
    return answers, base, labels


def test_task_files_are_discovered_by_name(tmp_path):
    (tmp_path / "a.csv").write_text("")
    (tmp_path / "bkg_sim.csv").write_text("")
    (tmp_path / "labels.csv").write_text("")
    files = discover_task(tmp_path)
    assert files.data.name == "a.csv" and files.reference.name == "bkg_sim.csv"
    (tmp_path / "b.csv").write_text("")
    with pytest.raises(InputError, match="one data CSV and one background-only CSV"):
        discover_task(tmp_path)
    (tmp_path / "a.csv").unlink()
    (tmp_path / "bkg_sim.csv").rename(tmp_path / "Reference_MC.csv")
    files = discover_task(tmp_path)
    assert files.data.name == "b.csv" and files.reference.name == "Reference_MC.csv"


def test_solve_finds_the_resonance_and_writes_every_output(solved):
    answers, base, _ = solved
    run = base / "run"
    assert answers["p_value"] < 1e-3 and answers["discovery"]
    assert abs(answers["m_res"] - 3500) < 350  # within 10 %
    assert 0 < answers["signal_percentage"] < 10 and answers["n_signal_error"] > 0
    assert answers["n_signal_lower"] < 0 < answers["n_signal_upper"]
    lines = (run / "scores.csv").read_text().splitlines()
    assert lines[0] == "index,score" and len(lines) == N_BKG + N_SIG + 1
    index, scores = np.loadtxt(run / "scores.csv", delimiter=",", skiprows=1).T
    assert np.array_equal(index, np.arange(N_BKG + N_SIG))
    assert scores.min() >= 0 and scores.max() <= 1
    saved = json.loads((run / "answers.json").read_text())
    assert saved["m_res"] == answers["m_res"]
    report = (run / "report.md").read_text()
    assert report.count("| yes |") >= 2 and report.count("\n| ") >= 6  # >= 5 approaches
    assert "Provenance head" in (run / "report.html").read_text()
    assert verify_run(run).ok


def test_evaluate_beats_an_mjj_window_and_a_tau21_cut(solved):
    _, base, labels = solved
    metrics = evaluate(base / "run", labels, true_mass_gev=3500.0)
    assert abs(metrics["m_res_relative_error"]) < 0.1
    inside = metrics["in_signal_region"]["max_sic"]
    assert inside > 1.5 * metrics["tau21_cut_in_signal_region"]["max_sic"]
    assert metrics["all_events"]["max_sic"] > 1.5 * metrics["mjj_window_all_events"]["max_sic"]
    assert metrics["n_signal_true"] == N_SIG


def test_cli_agent_solve_and_evaluate(solved, tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    _, base, labels = solved
    result = CliRunner().invoke(app, ["agent", "evaluate", str(base / "run"), "--labels",
                                      str(labels), "--true-mass", "3500", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["in_signal_region"]["auc"] > 0.8
    missing = CliRunner().invoke(app, ["agent", "solve", str(tmp_path / "nowhere"),
                                       "--out", str(tmp_path / "run")])
    assert missing.exit_code != 0 and "task directory" in missing.output


def test_extraction_and_audit_report_tools_on_the_solved_run(solved):
    from pathlib import Path

    from aihep.agent.policy import Policy
    from aihep.agent.registry import default_registry
    from aihep.agent.runner import ToolRunner

    answers, base, _ = solved
    run = base / "run"
    data = Path(answers["task"]["data"])
    runner = ToolRunner(default_registry(), Policy(read_paths=(data,), run_dir=run))
    fit = runner.call("extract_signal", {"data": str(data), "out": str(run / "extract"),
                                         "scores": str(run / "scores.csv"),
                                         "keep_fraction": 0.05}, "test")
    assert fit.status == "ok", fit.message
    assert abs(fit.output["m_res_gev"]["value"] - 3500) < 350
    assert fit.output["n_signal"]["error"] > 0
    audit = runner.call("write_report", {"run": str(run), "out": str(run / "audit")}, "test")
    assert audit.status == "ok" and audit.output["statuses"]["ok"] >= 3
    text = (run / "audit" / "audit.md").read_text()
    assert "| extract_signal | ok |" in text and "Record intact" in text
    assert verify_run(run).ok


def test_evaluate_judges_a_bump_outside_the_classifier_region_in_its_window(solved, tmp_path):
    import shutil

    answers, base, labels = solved
    assert answers["bump_window_gev"][0] <= answers["m_res"] < answers["bump_window_gev"][1]
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    moved = dict(answers, signal_region_gev=[5400.0, 5800.0])  # as a cut learnt far away
    (run / "answers.json").write_text(json.dumps(moved))
    metrics = evaluate(run, labels)
    assert metrics["signal_region_source"] == "bump window"
    assert metrics["signal_region_gev"] == answers["bump_window_gev"]
    inside = dict(answers, signal_region_gev=[answers["m_res"] - 200, answers["m_res"] + 200])
    (run / "answers.json").write_text(json.dumps(inside))
    metrics = evaluate(run, labels)
    assert metrics["signal_region_source"] == "classifier signal region"
    assert metrics["signal_region_gev"] == inside["signal_region_gev"]


def test_a_vetoed_excess_is_answered_as_no_credible_discovery():
    from aihep.agent.solve import _answers

    best = {"p_value": 1e-6, "discovery": False, "problems": [], "significant": True,
            "no_claim_because": ["resonance at 3900 GeV outside the window 3200-3600 GeV"],
            "m_res": {"value": 3900.0, "error": 20.0}, "n_signal": {"value": -9000.0,
                                                                    "error": 300.0}}
    answers = _answers(best, 100_000)
    assert answers["discovery"] is False and answers["m_res"] == -1
    assert answers["signal_percentage"] == 0.0
    assert answers["no_claim_because"] == best["no_claim_because"]
