"""Every optimizer on a small analytic problem: budget, improvement, record, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from aihep.design.evaluator import Evaluator
from aihep.design.optimizers import OPTIMIZERS, OptimizerConfig
from aihep.design.problem import DesignProblem
from aihep.design.problems import spectrometer_spec
from aihep.design.proposer import heuristic_proposer
from aihep.design.run import RECORD, run_design
from aihep.errors import ConfigError
from aihep.workflow.provenance import read_entries, verify_record

OPTIMUM = {"x0": 0.2, "x1": 0.7, "x2": 0.9, "x3": 0.1, "k": 0.75}


def quadratic_problem(**objective) -> DesignProblem:
    return DesignProblem.model_validate({
        "name": "quadratic",
        "parameters": [{"kind": "continuous", "name": f"x{i}", "low": 0, "high": 1}
                       for i in range(4)]
        + [{"kind": "discrete", "name": "k", "choices": [0, 0.25, 0.5, 0.75, 1.0]}],
        "constraints": [{"kind": "budget", "parameters": ["x0", "x1"], "limit": 1.2}],
        "objective": {"simulator": "quadratic", "events": 100, "weights": {"distance": 1.0},
                      "settings": {"optimum": OPTIMUM, "noise": 0.001}, **objective},
        "baseline": {"x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "k": 0}})


PROBLEM = quadratic_problem()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_spends_the_budget_and_improves(name, tmp_path):
    propose = heuristic_proposer() if name.startswith("llm") else None
    result = run_design(PROBLEM, OptimizerConfig(name=name, budget=120, seed=2), tmp_path,
                        propose=propose, reevaluate_events=500)
    assert result.calls == 120
    assert result.baseline_objective > 0.9  # 0.5^2 x 3 + 0.75^2 - ... = 1.01
    assert result.best_objective < 0.5 * result.baseline_objective
    assert PROBLEM.is_feasible(result.best_design)
    entries = read_entries(tmp_path / RECORD)
    evaluations = [e for e in entries if e["tool"] == "evaluate"]
    assert len(evaluations) == 120 and verify_record(tmp_path / RECORD).ok
    assert {e["actor"] for e in evaluations} == {name}
    assert all(np.isfinite(result.best_so_far[-1:]))


def test_trust_region_refines_the_continuous_positions():
    """random+tr beats random alone at equal budget (the refinement does work)."""
    plain = [run_design(PROBLEM, OptimizerConfig(name="random", budget=150, seed=s),
                        reevaluate_events=500).best_objective for s in (1, 2, 3)]
    refined = [run_design(PROBLEM, OptimizerConfig(name="random+tr", budget=150, seed=s),
                          reevaluate_events=500).best_objective for s in (1, 2, 3)]
    assert np.median(refined) < 0.5 * np.median(plain)


@pytest.mark.parametrize("name", ["cma-es", "optuna-tpe", "heuristic+tr", "ppo"])
def test_a_killed_run_resumes_by_replaying_its_record(name, tmp_path):
    full = run_design(PROBLEM, OptimizerConfig(name=name, budget=60, seed=4), tmp_path / "a",
                      reevaluate_events=200)
    # the same run killed after 25 calls, then started again
    with pytest.raises(KeyboardInterrupt):
        def stop(calls, budget, best):
            if calls == 25:
                raise KeyboardInterrupt
        run_design(PROBLEM, OptimizerConfig(name=name, budget=60, seed=4), tmp_path / "b",
                   reevaluate_events=200, progress=stop)
    resumed = run_design(PROBLEM, OptimizerConfig(name=name, budget=60, seed=4),
                         tmp_path / "b", reevaluate_events=200)
    assert resumed.replayed_entries >= 25
    assert resumed.best_design == full.best_design
    assert resumed.best_objective == full.best_objective
    assert len([e for e in read_entries(tmp_path / "b" / RECORD)
                if e["tool"] == "evaluate"]) == 60


def test_a_record_from_another_run_is_refused(tmp_path):
    run_design(PROBLEM, OptimizerConfig(name="random", budget=10, seed=1), tmp_path,
               reevaluate_events=100)
    with pytest.raises(ConfigError, match="another design"):
        run_design(PROBLEM, OptimizerConfig(name="random", budget=10, seed=2), tmp_path,
                   reevaluate_events=100)


def crashing(design, seed, events, **_):
    if design["x0"] > 0.5:
        raise RuntimeError("geometry overlap")
    return {"distance": float(design["x0"])}


def test_simulator_crash_is_a_recorded_counted_failure(tmp_path):
    problem = quadratic_problem(simulator=f"{__name__}:crashing", settings={})
    evaluate = Evaluator(problem, 1, 10, "random")
    low = evaluate({**problem.baseline, "x0": 0.3})
    high = evaluate({**problem.baseline, "x0": 0.9})
    assert low == pytest.approx(0.3) and high == pytest.approx(0.6)  # penalty: 2 x worst
    assert evaluate.history[1].status.startswith("failed: RuntimeError: geometry overlap")
    result = run_design(problem, OptimizerConfig(name="random", budget=30, seed=1), tmp_path,
                        reevaluate_events=500)
    assert 0 < result.failures < 30
    failed = [e for e in read_entries(tmp_path / RECORD) if e["status"] != "ok"]
    assert len(failed) == result.failures


def always_crashing(design, seed, events, **_):
    raise RuntimeError("no field map for this layout")


def test_a_run_where_every_call_fails_says_why(tmp_path):
    problem = quadratic_problem(simulator=f"{__name__}:always_crashing", settings={})
    with pytest.raises(ConfigError, match=r"3 of 3 simulator calls failed; the first: "
                       r"RuntimeError: no field map"):
        run_design(problem, OptimizerConfig(name="random", budget=3, seed=1), tmp_path,
                   reevaluate_events=100)


def test_unusable_llm_replies_are_counted_and_fall_back(tmp_path):
    replies = iter(["Sure! Here are designs: {broken", "no json at all",
                    json.dumps({"designs": [{"x0": 5.0, "x1": 0.5}, {"x0": 0.1}]})] * 100)
    result = run_design(PROBLEM, OptimizerConfig(name="llm", budget=20, seed=1,
                                                 max_failed_replies=2), tmp_path,
                        propose=lambda prompt, state: next(replies), reevaluate_events=100)
    assert result.calls == 20
    assert result.unusable_replies >= 4
    assert result.fallback_designs > 0
    # the proposals that were out of range or incomplete were projected and counted
    assert result.invalid_fraction > 0
    proposals = [e for e in read_entries(tmp_path / RECORD) if e["tool"] == "propose"]
    assert any(e["status"].startswith("unusable: not JSON") for e in proposals)
    assert any(e["status"].startswith("unusable: no JSON") for e in proposals)


def test_repeated_proposals_are_not_evaluated_again(tmp_path):
    """A model that answers with the same design every round (the 0.5B local model does)."""
    same = {"x0": 0.5, "x1": 0.5, "x2": 0.5, "x3": 0.5, "k": 0}
    reply = json.dumps({"designs": [same, same, dict(same, x2=0.6)]})
    result = run_design(PROBLEM, OptimizerConfig(name="llm", budget=24, seed=1,
                                                 designs_per_round=3), tmp_path,
                        propose=lambda prompt, state: reply, reevaluate_events=100)
    designs = [json.dumps(e["arguments"]["design"], sort_keys=True)
               for e in read_entries(tmp_path / RECORD) if e["tool"] == "evaluate"]
    assert len(designs) == 24 and len(set(designs)) == 24
    # the first round evaluates the two distinct designs; every later slot is a random fill
    assert result.filled_repeats == 24 - 2
    sources = [e["extra"]["source"] for e in read_entries(tmp_path / RECORD)
               if e["tool"] == "evaluate"]
    assert sources[:3] == ["llm", "llm-fill", "llm"] and set(sources[3:]) == {"llm-fill"}
    # the old behaviour, on request: the budget goes to re-measuring the same designs
    kept = run_design(PROBLEM, OptimizerConfig(name="llm", budget=24, seed=1,
                                               designs_per_round=3, fill_repeats=False),
                      propose=lambda prompt, state: reply, reevaluate_events=100)
    assert kept.filled_repeats == 0


def test_llm_without_a_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="language model"):
        run_design(PROBLEM, OptimizerConfig(name="llm", budget=5), reevaluate_events=100)


def test_the_prompt_holds_problem_constraints_and_memory():
    seen = []

    def propose(prompt, state):
        seen.append(prompt)
        return heuristic_proposer()(prompt, state)

    run_design(PROBLEM, OptimizerConfig(name="llm", budget=16, seed=1), propose=propose,
               reevaluate_events=100)
    assert "x0: number in [0, 1]" in seen[0] and "(x0, x1)^1 <= 1.2" in seen[0]
    assert "No design evaluated yet" in seen[0] and "Best designs so far" in seen[1]
    assert seen[0].split("\n\n")[0] == seen[1].split("\n\n")[0]  # fixed part first


def test_a_problem_path_must_come_as_problem_file(tmp_path):
    """``problem`` names a built-in problem; a YAML file is read only as ``problem_file``
    (the agent's policy checks that argument's path)."""
    from aihep.design.run import run_design_dir

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spectrometer_spec()))
    with pytest.raises(ConfigError, match=r"unknown problem .*problem_file"):
        run_design_dir(str(path), tmp_path / "out", "random", budget=2)
    assert not (tmp_path / "out").exists()
