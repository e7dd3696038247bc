"""The playbook agent end to end on a small synthetic dataset: plan, validate, refine,
memory, provenance and exact replay."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from toy import toy_table

from aihep.agent.orchestrator import run_agent
from aihep.agent.playbook import PlaybookPlanner, ResonanceTask
from aihep.agent.replay import replay
from aihep.agent.runner import verify_run

FAST = {"n_folds": 2, "n_toys": 20, "keep_fraction": 0.05, "scan_range_gev": [3100, 3900],
        "classifier": {"n_ensemble": 1, "max_iter": 40},
        # no CLs limits after an empty hunt (pyhf at every window: most of a background-only
        # hunt's time; the limits tool has its own test) and one second-opinion seed
        "limits": False, "opinion_seeds": 1}


def _write_table(path, n_bkg: int, n_sig: int, seed: int):
    pq.write_table(pa.table(toy_table(n_bkg, n_sig, seed)), path)
    return path


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("agent")
    data = _write_table(base / "data.parquet", 15000, 400, 1)
    # one planned hunt (no fallbacks): after a claim every planned hunt runs, and CATHODE's
    # flows would triple this fixture's time
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=(), seed=3)
    return run_agent(task, base / "run"), task, base


def test_playbook_finds_the_resonance(signal_run):
    result, _, _ = signal_run
    assert result.answer["discovery"]
    assert abs(result.answer["best"]["m_res"]["value"] - 3500) < 175
    assert [s["tool"] for s in result.steps] == ["inspect_dataset", "hunt"]
    assert result.answer["best"]["hunts_counted"] == 1
    assert result.steps[1]["problems"] == []
    assert verify_run(result.run_dir).ok
    manifest = json.loads((result.run_dir / "agent_manifest.json").read_text())
    assert manifest["head"] == result.head


def test_replay_reproduces_every_output_bit_for_bit(signal_run, tmp_path):
    result, _, _ = signal_run
    steps = replay(result.run_dir, tmp_path / "replay")
    assert [s.tool for s in steps] == ["inspect_dataset", "hunt"]
    assert all(s.status == "match" for s in steps)
    hunt = steps[1]
    assert any(p.endswith("scores.csv") for p in hunt.identical)
    assert any(p.endswith("results.json") for p in hunt.identical)


def test_inconclusive_hunt_is_refined_and_remembered(tmp_path):
    data = _write_table(tmp_path / "bkg.parquet", 15000, 0, 2)
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=("supervised",), seed=3)
    # supervised trains on truth labels: the default policy refuses its hunt, recorded
    memory = tmp_path / "memory.json"
    first = run_agent(task, tmp_path / "run1", memory_path=memory)
    assert not first.answer["discovery"]
    assert [s["tool"] for s in first.steps] == ["inspect_dataset", "hunt", "hunt"]
    assert first.steps[2]["status"] == "refused"
    assert "truth labels" in first.steps[2]["message"]
    # a second run on the same data remembers both hunts and plans none
    second = run_agent(task, tmp_path / "run2", memory_path=memory)
    assert second.answer["remembered_methods"] == [["cwola"]]
    assert [s["tool"] for s in second.steps] == ["inspect_dataset", "hunt"]
    assert second.steps[1]["status"] == "refused"


def test_planner_skips_methods_needing_a_reference(tmp_path):
    planner = PlaybookPlanner()
    task = ResonanceTask(data=tmp_path / "d.parquet", fallback_methods=("idealized", "cathode"))
    steps = planner.plan(task, tmp_path)
    assert steps[1].arguments["config"]["methods"] == ["cwola"]
    refined = planner.refine(task, tmp_path, {"discovery": False, "p_value": 0.3})
    assert refined[0].arguments["config"]["methods"] == ["cathode"]
    assert planner.refine(task, tmp_path, {"discovery": False, "p_value": 0.3}) == []


def test_planner_runs_every_planned_hunt_after_a_claim(tmp_path):
    """It stopped at the first hunt that claimed, with Bonferroni over the hunts run so far:
    each hunt k then had alpha / k of its own (1.83 alpha over three). Every planned hunt
    now runs, so the answer's correction counts all of them."""
    planner = PlaybookPlanner()
    task = ResonanceTask(data=tmp_path / "d.parquet", reference=tmp_path / "r.parquet",
                         fallback_methods=("cathode", "ae"))
    planner.plan(task, tmp_path)
    after_claim = planner.refine(task, tmp_path, {"discovery": True, "p_value": 1e-5})
    assert after_claim[0].arguments["config"]["methods"] == ["cathode"]
    assert planner.refine(task, tmp_path, {"discovery": True, "p_value": 1e-5})[0].arguments[
        "config"]["methods"] == ["ae"]
    assert planner.refine(task, tmp_path, {"discovery": True, "p_value": 1e-5}) == []


def test_cli_agent_run_verify_and_replay(tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    data = _write_table(tmp_path / "data.parquet", 4000, 0, 4)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"run_dir: {tmp_path / 'run'}\nread_paths: [{data}]\n"
                      "allowed_tools: [inspect_dataset]\n")
    cli = CliRunner()
    result = cli.invoke(app, ["agent", "run", str(data), "--out", str(tmp_path / "run"),
                              "--policy", str(policy), "--json"])
    # every hunt refused: no answer, a non-zero exit that says why (not "discovery: false")
    assert result.exit_code == 1, result.output
    assert "no hunt completed" in result.stderr and "allowed_tools" in result.stderr
    assert json.loads(result.stdout)["answer"]["discovery"] is None
    steps = json.loads(result.stdout)["steps"]
    assert steps[0]["status"] == "ok"
    assert steps[1]["status"] == "refused" and "allowed_tools" in steps[1]["message"]
    assert cli.invoke(app, ["agent", "verify", str(tmp_path / "run")]).exit_code == 0
    again = cli.invoke(app, ["replay", str(tmp_path / "run"), "--out",
                             str(tmp_path / "replay"), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["all_match"]


def test_missing_data_is_a_clear_error(tmp_path):
    from aihep.errors import InputError

    with pytest.raises(InputError, match=r"missing\.parquet: file"):
        run_agent(ResonanceTask(data=tmp_path / "missing.parquet"), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written


def test_bump_hunt_and_limit_tools_on_a_table(tmp_path):
    from aihep.agent.policy import Policy
    from aihep.agent.registry import default_registry
    from aihep.agent.runner import ToolRunner

    data = _write_table(tmp_path / "data.parquet", 6000, 0, 5)
    runner = ToolRunner(default_registry(), Policy(read_paths=(data,),
                                                   run_dir=tmp_path / "run"))
    bump = runner.call("bump_hunt", {"data": str(data), "out": str(tmp_path / "run/bh"),
                                     "n_toys": 20}, "test")
    assert bump.status == "ok" and bump.output["p_global"] > 1e-3
    lim = runner.call("limits", {"data": str(data), "out": str(tmp_path / "run/lim"),
                                 "masses_gev": [3500.0]}, "test")
    assert lim.status == "ok", lim.message
    assert lim.output["limits"][0]["observed"] > 0
    assert (tmp_path / "run/lim/result.json").is_file()
    bad = runner.call("bump_hunt", {"data": str(data), "out": str(tmp_path / "run/x"),
                                    "column": "mass"}, "test")
    assert bad.status == "error" and "mass" in bad.message


def test_crashed_run_resumes_without_redoing_finished_steps(tmp_path, monkeypatch):
    data = _write_table(tmp_path / "bkg.parquet", 15000, 0, 2)
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=("supervised",), seed=3)

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt  # the agent dies after its first hunt

    with monkeypatch.context() as patch:
        patch.setattr(PlaybookPlanner, "refine", crash)
        with pytest.raises(KeyboardInterrupt):
            run_agent(task, tmp_path / "run")
    hunt_dir = tmp_path / "run" / "hunt_cwola"
    stamp = (hunt_dir / "scores.csv").stat().st_mtime_ns
    resumed = run_agent(task, tmp_path / "run")
    assert [(s["tool"], s["reused"]) for s in resumed.steps][:2] == [
        ("inspect_dataset", True), ("hunt", True)]
    assert (hunt_dir / "scores.csv").stat().st_mtime_ns == stamp  # not recomputed
    assert resumed.steps[2]["tool"] == "hunt" and not resumed.steps[2]["reused"]
    results = json.loads((hunt_dir / "results.json").read_text())
    assert resumed.steps[1]["p_value"] == pytest.approx(results["p_value"])
    assert verify_run(resumed.run_dir).ok
    # a finished run started again repeats its answer: its own memory (written when it
    # finished) must not send it to new methods (it once answered from a new hunt alone)
    again = run_agent(task, tmp_path / "run")
    assert [(s["tool"], s["status"], s["reused"]) for s in again.steps] == [
        (s["tool"], s["status"], s["status"] == "ok") for s in resumed.steps]
    assert again.answer["best"]["p_value"] == resumed.answer["best"]["p_value"]
    assert again.answer["hunts"] == resumed.answer["hunts"]
    memory = json.loads((tmp_path / "run" / "memory.json").read_text())
    assert len(next(iter(memory.values()))["results"]) == resumed.answer["hunts"]


def test_cli_names_the_missing_extra_verbatim(tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("llama-cpp-python is installed")
    result = CliRunner().invoke(app, ["agent", "run", str(tmp_path / "d.parquet"), "--out",
                                      str(tmp_path / "run"), "--planner", "local"])
    assert result.exit_code == 2 and "aihep[llm-local]" in result.output


def test_policy_run_dir_must_be_the_run_directory(tmp_path):
    from aihep.agent.policy import Policy
    from aihep.errors import ConfigError

    data = _write_table(tmp_path / "data.parquet", 500, 0, 6)
    policy = Policy(read_paths=(data,), run_dir=tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="differs from the policy's run_dir"):
        run_agent(ResonanceTask(data=data), tmp_path / "run", policy)
    assert not (tmp_path / "run").exists() and not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("command", ["run", "solve"])
def test_cli_agent_out_onto_a_file_is_one_line(tmp_path, command):
    from typer.testing import CliRunner

    from aihep.cli import app

    data = _write_table(tmp_path / "data.parquet", 500, 0, 7)
    target = tmp_path / "taken.txt"
    target.write_text("mine\n")
    if command == "run":
        args = ["agent", "run", str(data), "--out", str(target)]
    else:
        task = tmp_path / "task"
        task.mkdir()
        for name, seed in (("data.csv", 8), ("bkg.csv", 9)):
            cols = toy_table(400, 0, seed)
            rows = zip(*(cols[k] for k in ("index", "mjj", "mj1", "delta_mj", "tau21_j1",
                                           "tau21_j2")), strict=True)
            (task / name).write_text(
                ",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
                + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
        args = ["agent", "solve", str(task), "--out", str(target)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "taken.txt" in result.stderr and "Traceback" not in result.output
    assert target.read_text() == "mine\n"


def test_progress_names_every_step_and_the_running_trial(tmp_path):
    """`agent solve` printed nothing for 35 minutes: the orchestrator reports each step and
    a hunt (in a child process) reports each finished trial in its .progress.json, which the
    CLI's live line reads."""
    import threading

    data = _write_table(tmp_path / "data.parquet", 6000, 300, 8)
    seen: list[dict] = []
    trials: set[str] = set()
    stop = threading.Event()

    def poll(out: Path) -> None:
        while not stop.wait(0.02):
            with contextlib.suppress(OSError, ValueError):
                trials.add(json.loads((out / ".progress.json").read_text())["what"])

    def progress(info: dict) -> None:
        seen.append(info)
        if info["tool"] == "hunt" and "status" not in info:
            threading.Thread(target=poll, args=(Path(info["out"]),), daemon=True).start()

    try:
        # no fallback hunts: the CATHODE one trained flows for minutes after the steps checked
        result = run_agent(ResonanceTask(data=data, hunt=FAST, fallback_methods=(), seed=3),
                           tmp_path / "run", progress=progress)
    finally:
        stop.set()
    assert [(i["step"], i["tool"], i.get("status")) for i in seen][:4] == [
        (1, "inspect_dataset", None), (1, "inspect_dataset", "ok"), (2, "hunt", None),
        (2, "hunt", "ok")]
    assert seen[2]["methods"] == ["cwola"]
    assert any(t.startswith("scored cwola in SR") for t in trials), trials
    assert not any(p.name == ".progress.json" for p in (tmp_path / "run").rglob("*"))
    assert result.answer["hunts"] >= 1


def test_every_hunt_is_a_trial_of_the_answer(tmp_path):
    """The agent took the smallest p over its hunts with no correction: now the answer's p is
    Bonferroni over every hunt on these data (this run's and remembered ones)."""
    data = _write_table(tmp_path / "bkg.parquet", 15000, 0, 2)
    reference = _write_table(tmp_path / "ref.parquet", 15000, 0, 12)
    task = ResonanceTask(data=data, reference=reference, hunt=FAST,
                         fallback_methods=("idealized",), seed=3)
    first = run_agent(task, tmp_path / "run1")
    best = first.answer["best"]
    assert first.answer["hunts"] == 2 and best["hunts_counted"] == 2
    assert best["p_value"] == pytest.approx(min(1.0, 2 * best["p_value_single_hunt"]))
