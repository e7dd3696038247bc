"""``aihep design``: run, compare, show, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from aihep.cli import app
from aihep.design.problems import spectrometer_spec

runner = CliRunner()


def quadratic_yaml(path):
    spec = {"name": "quad",
            "parameters": [{"kind": "continuous", "name": f"z{i}_m", "low": 0, "high": 1}
                           for i in (1, 2)]
            + [{"kind": "discrete", "name": f"g{i}", "choices": [0, 1, 2]} for i in (1, 2)],
            "objective": {"simulator": "quadratic", "events": 100,
                          "weights": {"distance": 1.0}},
            "baseline": {"z1_m": 0.0, "z2_m": 1.0, "g1": 0, "g2": 2}}
    path.write_text(yaml.safe_dump(spec))
    return path


def run_json(problem, out, optimizer, budget, events, *extra):
    """``aihep design run ... --json``: the parsed result (the command must succeed)."""
    result = runner.invoke(app, ["design", "run", str(problem), "--out", str(out),
                                 "--optimizer", optimizer, "--budget", str(budget),
                                 "--reevaluate-events", str(events), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_two_seeds_then_compare(tmp_path):
    problem = quadratic_yaml(tmp_path / "quad.yaml")
    out = tmp_path / "run"
    data = run_json(problem, out, "heuristic+tr", 30, 300, "--seeds", "2")
    assert data["runs"] == 2 and data["summary"][0]["seeds"] == 2
    assert data["last"]["best_objective"] < data["last"]["baseline_objective"]
    for seed in ("seed1", "seed2"):
        manifest = json.loads((out / seed / "manifest.json").read_text())
        assert manifest["kind"] == "aihep.design.run" and manifest["inputs"][0]["sha256"]
        assert manifest["config"]["optimizer"]["seed"] == int(seed[-1])
    assert (out / "report.html").is_file()
    compared = runner.invoke(app, ["design", "compare", str(out), "--out",
                                   str(tmp_path / "cmp"), "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["summary"][0]["optimizer"] == "heuristic+tr"
    # the same command again resumes (replays) instead of refusing or recomputing
    again = run_json(problem, out, "heuristic+tr", 30, 300, "--seeds", "2")
    assert again["last"] == data["last"]


def test_compare_says_how_much_of_an_llm_run_was_random_fill(tmp_path):
    rows = [{"problem": "p", "optimizer": name, "seed": seed, "calls": 10,
             "best_objective": 1.0 + seed, "baseline_objective": 5.0,
             "invalid_fraction": 0.0, "seconds": 1.0, "filled_repeats": filled}
            for seed in (1, 2) for name, filled in (("random", 0), ("llm", 7 + seed))]
    path = tmp_path / "design.json"
    path.write_text(json.dumps({"rows": rows}))
    result = runner.invoke(app, ["design", "compare", str(path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "repeated an evaluated design: llm 85%" in text and "random 0%" not in text


def test_several_optimizers_share_seeds_and_one_report(tmp_path):
    problem = quadratic_yaml(tmp_path / "quad.yaml")
    out = tmp_path / "cmp"
    data = run_json(problem, out, "random, heuristic,random", 12, 200, "--seeds", "2")
    assert data["runs"] == 4  # the repeated name runs once
    assert [s["optimizer"] for s in data["summary"]] == ["heuristic", "random"]
    assert data["summary"][0]["vs_random_wins"].endswith("/2")
    for name in ("random", "heuristic"):
        for seed in (1, 2):
            row = json.loads((out / name / f"seed{seed}" / "result.json").read_text())
            assert (row["optimizer"], row["seed"], row["calls"]) == (name, seed, 12)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "aihep.design.runs"
    assert manifest["config"]["optimizers"] == ["random", "heuristic"]
    assert manifest["inputs"][0]["sha256"] and manifest["outputs"][0]["path"] == "report.html"
    # compare writes only where it may: a directory of another command is refused
    refused = runner.invoke(app, ["design", "compare", str(out), "--out", str(out)])
    assert refused.exit_code == 2 and "another command" in refused.output
    compared = runner.invoke(app, ["design", "compare", str(out), "--out",
                                   str(tmp_path / "summary"), "--json"])
    assert compared.exit_code == 0, compared.output
    written = json.loads((tmp_path / "summary" / "manifest.json").read_text())
    assert written["kind"] == "aihep.design.compare" and len(written["inputs"]) == 4
    table = runner.invoke(app, ["design", "compare", str(out)])  # for a person: a table
    assert table.exit_code == 0 and "p (wins)" in table.output
    heuristic = next(line for line in table.output.splitlines()
                     if line.strip().startswith("heuristic"))
    assert data["summary"][0]["vs_random_wins"] in heuristic and "{" not in table.output


def test_llm_and_llm_tr_in_one_run_share_the_models_replies(tmp_path, monkeypatch):
    import aihep.agent.design

    asked = []

    class Server:  # an OpenAI-compatible backend, offline: shifts the baseline
        model = "fake"

        def __init__(self, config):
            pass

        def complete(self, messages, tools):
            asked.append(messages[-1]["content"])
            base = load_problem_baseline()
            return "propose_designs", {"designs": [
                {**base, "z1_m": 0.1 * (len(asked) + i)} for i in range(4)]}

    def load_problem_baseline():
        return yaml.safe_load((tmp_path / "quad.yaml").read_text())["baseline"]

    monkeypatch.setattr(aihep.agent.design, "OpenAIChat", Server)
    problem = quadratic_yaml(tmp_path / "quad.yaml")
    out = tmp_path / "llm"

    def run(optimizers):
        run_json(problem, out, optimizers, 20, 200, "--llm", "openai")

    run("llm")
    asked_by_llm = len(asked)
    assert asked_by_llm >= 5 and len(list((out / "llm_replies").rglob("*.json"))) == len(asked)
    run("llm,llm+tr")  # llm again, then llm+tr: the same seed asks the same questions
    assert len(asked) == asked_by_llm
    rows = {r: json.loads((out / r / "seed1" / "result.json").read_text())
            for r in ("llm", "llm+tr")}
    assert rows["llm"]["calls"] == rows["llm+tr"]["calls"] == 20
    assert rows["llm"]["best_so_far"] == json.loads(
        (out / "seed1" / "result.json").read_text())["best_so_far"]
    # llm+tr proposes for 14 of its 20 calls (30% trust region): llm's first 14 calls
    assert rows["llm"]["best_so_far"][:14] == rows["llm+tr"]["best_so_far"][:14]


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "simplex"], "--optimizer simplex: expected one of"),
    (["--optimizer", "random,simplex"], "--optimizer random,simplex: expected one of"),
    (["--optimizer", " , "], "expected one of"),
    (["--optimizer", "llm", "--llm", "gpt"], "--llm gpt"),
    (["--optimizer", "llm", "--llm", "local", "--model", "/nonexistent.gguf"], ""),
])
def test_bad_options_are_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    result = runner.invoke(app, ["design", "run", "spectrometer", "--out", str(out), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert not any(out.rglob("result.json"))


def test_bad_problem_file_is_one_line_and_nothing_written(tmp_path):
    spec = spectrometer_spec()
    spec["baseline"]["g1"] = 999
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    result = runner.invoke(app, ["design", "run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: {path}: baseline")
    assert not out.exists()
    result = runner.invoke(app, ["design", "compare", str(tmp_path)])
    assert result.exit_code == 2 and "result.json" in result.output


def test_show_prints_yaml_that_loads_back():
    result = runner.invoke(app, ["design", "show", "spectrometer"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["objective"]["simulator"] == "spectrometer"


def test_convergence_figure_gives_every_optimizer_its_own_line():
    from aihep.report.design import convergence_figure

    rows = [{"optimizer": name, "baseline_objective": 10.0,
             "best_so_far": [40.0, 9.0 - i, 8.0 - i, 7.5 - i]}
            for i, name in enumerate(["random", "cma-es", "llm", "llm+tr"]) for _ in (1, 2)]
    fig = convergence_figure(rows)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().endswith("seeds)")]
    assert [line.get_label() for line in lines] == [
        "cma-es (2 seeds)", "llm (2 seeds)", "llm+tr (2 seeds)", "random (2 seeds)"]
    styles = {(line.get_color() if isinstance(line.get_color(), str)
               else tuple(line.get_color()), line.get_linestyle()) for line in lines}
    assert len(styles) == len(lines)
    low, high = ax.get_ylim()  # the first call's 40 does not flatten the curves
    assert high == 15.0 and low < 4.5
