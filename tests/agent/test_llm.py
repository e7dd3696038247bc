"""The LLM planner with a fake model: validation, retries, policy, fallback, recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_orchestrator import FAST, _write_table

from aihep.agent.llm import LLMPlanner
from aihep.agent.orchestrator import apply_llm_review, run_agent
from aihep.agent.playbook import ResonanceTask
from aihep.agent.registry import default_registry
from aihep.agent.runner import RECORD, verify_run
from aihep.discovery.hunt import HuntConfig
from aihep.workflow.provenance import read_entries

# the planner is under test, not the hunt: one signal-region window instead of a scan of three
FAST = {**FAST, "scan_range_gev": [3300, 3700]}


class FakeModel:
    """Replays scripted replies: (tool name, arguments) or (None, None) to stop."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen = []

    def complete(self, messages, tools):
        if [t["name"] for t in tools] == ["review"]:
            return None, None  # asked to review a claim: no doubts (not a review: ignored)
        self.seen.append(messages[-1]["content"])
        assert {t["name"] for t in tools} >= {"hunt", "inspect_dataset"}
        return self.replies.pop(0) if self.replies else (None, None)


def test_invalid_proposal_is_returned_to_the_model_then_corrected(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 8000, 300, 6)
    run = tmp_path / "run"
    good = {"data": str(data), "out": str(run / "h"),
            "config": {**FAST, "methods": ["cwola"], "sr_scan": True}}
    model = FakeModel([
        ("hunt", json.dumps({**good, "config": {"methods": ["magic"]}})),  # bad schema
        ("hunt", good),
        (None, None),  # after the result: stop
    ])
    planner = LLMPlanner(model, default_registry())
    result = run_agent(ResonanceTask(data=data, seed=3), run, planner=planner)
    assert [s["tool"] for s in result.steps] == ["hunt"]
    assert result.steps[0]["status"] == "ok"
    assert "Invalid call" in model.seen[1] and "methods" in model.seen[1]
    events = [t["event"] for t in planner.transcript]
    # the claim then goes to the model as reviewer (its empty reply adds no doubt)
    assert events == ["invalid proposal", "proposal", "model stops", "review"]
    assert planner.transcript[-1]["veto"] is False and result.answer["discovery"]
    recorded = [e for e in read_entries(run / RECORD) if e["tool"] == "planner.transcript"]
    assert recorded[0]["extra"]["transcript"][0]["event"] == "invalid proposal"
    assert verify_run(run).ok


def test_playbook_takes_over_after_bounded_retries(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 6000, 0, 7)
    outside = tmp_path / "outside-the-run"  # a sibling of the run directory
    escape = {"data": str(data), "out": str(outside), "config": FAST}
    model = FakeModel([("hunt", escape)] * 3)  # the policy refuses every time
    planner = LLMPlanner(model, default_registry(), max_retries=2)
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=(), seed=3)
    result = run_agent(task, tmp_path / "run", planner=planner)
    events = [t["event"] for t in planner.transcript]
    assert events.count("invalid proposal") == 3 and "playbook takes over" in events
    assert f"writing {outside} is not allowed" in planner.transcript[0]["error"]
    assert [s["tool"] for s in result.steps] == ["inspect_dataset", "hunt"]  # the playbook
    assert all(s["status"] == "ok" for s in result.steps)


def test_openai_client_needs_the_extra_and_an_endpoint(monkeypatch):
    import pytest

    from aihep.agent.llm import LLMConfig, OpenAIChat
    from aihep.errors import ConfigError

    monkeypatch.delenv("AIHEP_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("AIHEP_LLM_MODEL", raising=False)
    with pytest.raises(ConfigError, match=r"aihep\[llm\]|base_url"):
        OpenAIChat(LLMConfig())


def test_malformed_json_unknown_tool_and_forbidden_read_are_refused_and_recovered(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 3000, 0, 9)
    secret = tmp_path / "secret.parquet"  # exists, but is not an input of the task
    secret.write_bytes(data.read_bytes())
    model = FakeModel([
        ("inspect_dataset", '{"path": '),  # malformed JSON
        ("delete_everything", {}),  # unknown tool
        ("inspect_dataset", {"path": str(secret)}),  # read outside the policy
        ("inspect_dataset", {"path": str(data)}),  # valid
        ("hunt", {"data": str(data), "out": str(tmp_path / "run" / "h"),
                  "config": {**FAST, "methods": ["cwola"], "sr_scan": True}}),
        (None, None),
    ])
    planner = LLMPlanner(model, default_registry(), max_retries=3)
    result = run_agent(ResonanceTask(data=data, seed=3), tmp_path / "run", planner=planner)
    errors = [t["error"] for t in planner.transcript if t["event"] == "invalid proposal"]
    assert len(errors) == 3
    assert "Expecting value" in errors[0] or "JSON" in errors[0]
    assert "unknown tool 'delete_everything'" in errors[1]
    assert f"reading {secret} is not allowed" in errors[2]
    assert [s["tool"] for s in result.steps] == ["inspect_dataset", "hunt"]
    assert all(s["status"] == "ok" for s in result.steps) and not planner.took_over
    recorded = [e for e in read_entries(tmp_path / "run" / RECORD)
                if e["tool"] == "planner.transcript"]
    assert len(recorded[0]["extra"]["transcript"]) == 6
    assert verify_run(tmp_path / "run").ok


def test_repeated_calls_are_refused_and_the_playbook_finishes_the_job(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 8000, 300, 6)
    inspect = ("inspect_dataset", {"path": str(data)})
    model = FakeModel([inspect, inspect, inspect])  # a small model stuck in a loop
    planner = LLMPlanner(model, default_registry(), max_retries=1)
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=(), seed=3)
    result = run_agent(task, tmp_path / "run", planner=planner)
    errors = [t["error"] for t in planner.transcript if t["event"] == "invalid proposal"]
    assert len(errors) == 2 and all("already ran" in e for e in errors)
    assert "A typical analysis" in model.seen[0]  # the playbook's recipe was offered
    assert [s["tool"] for s in result.steps] == ["inspect_dataset", "hunt"]  # playbook's hunt
    assert result.steps[1]["status"] == "ok" and result.answer["discovery"]


def test_a_model_that_stops_before_hunting_is_taken_over(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 8000, 300, 6)
    model = FakeModel([("inspect_dataset", {"path": str(data)}), (None, None)])
    planner = LLMPlanner(model, default_registry(), max_retries=1)
    task = ResonanceTask(data=data, hunt=FAST, fallback_methods=(), seed=3)
    result = run_agent(task, tmp_path / "run", planner=planner)
    events = [t["event"] for t in planner.transcript]
    assert "model stopped before any hunt" in events and "playbook takes over" in events
    assert [s["tool"] for s in result.steps] == ["inspect_dataset", "hunt"]


def fake_hunt(data: Path, out: Path, config: HuntConfig | None = None,
              reference: Path | None = None, labels: Path | None = None) -> dict:
    """A fast stand-in for the hunt tool: writes aligned scores and a no-discovery result."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.csv").write_text("index,score\n" + "".join(f"{i},0.5\n" for i in range(10)))
    (out / "results.json").write_text(json.dumps({"p_value": 0.5, "discovery": False}))
    return {"p_value": 0.5, "discovery": False, "best_trial": {}}


def test_model_hunt_without_config_uses_the_default_methods(tmp_path):
    from aihep.agent.tools import ToolRegistry, make_tool

    data = _write_table(tmp_path / "data.parquet", 10, 0, 6)
    registry = ToolRegistry()
    registry.add(make_tool(fake_hunt, "hunt", reads=("data",), writes=("out",)))
    registry.add(default_registry().get("inspect_dataset"))
    model = FakeModel([("hunt", {"data": str(data), "out": str(tmp_path / "run" / "h")}),
                       (None, None)])
    model_tools = LLMPlanner(model, registry)
    result = run_agent(ResonanceTask(data=data, seed=3), tmp_path / "run", registry=registry,
                       planner=model_tools)
    assert result.answer["all_hunts"][0]["methods"] == list(HuntConfig().methods)


class FakeReviewer:
    """Stops planning at once (the playbook hunts) and answers a review call with ``reply``."""

    def __init__(self, reply):
        self.reply = reply
        self.reviewed = []

    def complete(self, messages, tools):
        if [t["name"] for t in tools] == ["review"]:
            self.reviewed.append(json.loads(messages[-1]["content"]))
            return self.reply
        return None, None


def test_llm_reviewer_can_veto_a_claim_but_sees_only_candidates_that_passed(tmp_path):
    from aihep.agent.llm import llm_review

    data = _write_table(tmp_path / "data.parquet", 15000, 400, 1)
    task = ResonanceTask(data=data, hunt={**FAST, "methods": ["cwola"]}, seed=3,
                         fallback_methods=())
    veto = FakeReviewer(("review", {"doubts": ["the yield is half the data"], "veto": True}))
    result = run_agent(task, tmp_path / "run", planner=LLMPlanner(veto, default_registry()))
    # a strong signal passes every deterministic check; the model's veto stops the claim
    assert len(veto.reviewed) == 1 and veto.reviewed[0]["review"]["passed"]
    assert result.answer["discovery"] is False
    assert result.answer["best"]["no_claim_because"] == [
        "LLM reviewer: the yield is half the data"]
    recorded = [e for e in read_entries(tmp_path / "run" / RECORD) if e["tool"] == "llm.review"]
    assert recorded and recorded[0]["extra"]["veto"] is True
    assert verify_run(tmp_path / "run").ok
    # a reply that is no review adds nothing; a failed check is never shown to the model
    assert llm_review(FakeReviewer(("hunt", {"veto": False})), {})["error"]
    assert llm_review(FakeReviewer(("review", "not json")), {})["veto"] is False
    shown = []
    for failed in ({"discovery": False, "problems": []},  # stopped by a deterministic check
                   {"discovery": True, "problems": ["scores.csv: 3 rows missing"]}):
        assert apply_llm_review(failed, shown.append) is failed
    assert shown == []


def test_amx_builds_load_without_extra_buffer_types(monkeypatch):
    """On an AMX build the weights must not be repacked into AMX buffers (llama.cpp 20824:
    segfault); other builds keep llama.cpp's defaults."""
    llama_cpp = pytest.importorskip("llama_cpp")

    from aihep.agent.llm import _without_amx_repack

    binding = llama_cpp.llama.llama_cpp
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: b"CPU : AVX2 = 1 | ")
    with _without_amx_repack():
        assert binding.llama_model_default_params().use_extra_bufts
    monkeypatch.setattr(llama_cpp, "llama_print_system_info",
                        lambda: b"CPU : AVX512 = 1 | AMX_INT8 = 1 | ")
    with _without_amx_repack():
        assert not binding.llama_model_default_params().use_extra_bufts
    assert binding.llama_model_default_params().use_extra_bufts  # restored afterwards
