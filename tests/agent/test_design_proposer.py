"""The language-model proposer for design problems: schema, replies, registry."""

from __future__ import annotations

import gzip
import json

import pytest

from aihep.agent.design import client_proposer, export_replies, import_replies, propose_tool
from aihep.agent.registry import default_registry
from aihep.design.optimizers import OptimizerConfig
from aihep.design.problems import load_problem
from aihep.design.run import run_design


class FakeChat:
    """Answers with the baseline shifted, or with prose on odd calls."""

    def __init__(self, problem):
        self.problem = problem
        self.calls = []

    def complete(self, messages, tools):
        self.calls.append((messages, tools))
        if len(self.calls) % 2 == 0:
            return "invalid-json", "I think the stations should move outward."
        designs = [{**self.problem.baseline, "z8_m": 9.0 + 0.1 * i} for i in range(8)]
        return "propose_designs", {"designs": designs}


def test_tool_schema_lists_every_parameter_with_bounds_and_choices():
    problem = load_problem("spectrometer")
    schema = propose_tool(problem, 8)["parameters"]["properties"]["designs"]
    item = schema["items"]
    assert set(item["required"]) == set(problem.names) and schema["maxItems"] == 8
    assert item["properties"]["z1_m"] == {"type": "number", "minimum": 0.5, "maximum": 10.0}
    assert 0 in item["properties"]["g1"]["enum"]


def test_chat_proposer_cached_system_prompt_and_unusable_replies(tmp_path):
    problem = load_problem("spectrometer")
    chat = FakeChat(problem)
    result = run_design(problem, OptimizerConfig(name="llm", budget=24, seed=1,
                                                 max_failed_replies=5), tmp_path,
                        propose=client_proposer(chat), reevaluate_events=300)
    assert result.calls == 24 and result.unusable_replies == 2
    systems = {m[0]["content"] for m, _ in chat.calls}
    assert len(systems) == 1  # the fixed part never changes: a backend can cache it
    assert "Best designs so far" in chat.calls[-1][0][1]["content"]
    assert json.loads(json.dumps(result.to_dict()))["optimizer"] == "llm"


def test_design_run_is_an_agent_tool():
    tool = default_registry().get("design_run")
    fields = set(tool.arguments.model_fields)
    assert {"problem", "optimizer", "budget", "seed", "out"} <= fields
    assert "propose" not in fields and tool.writes == ("out",)


def test_cached_replies_are_reused_by_a_run_with_the_same_prompts(tmp_path):
    problem = load_problem("spectrometer")
    chat = FakeChat(problem)
    propose = client_proposer(chat, tmp_path / "cache")
    first = run_design(problem, OptimizerConfig(name="llm", budget=16, seed=1,
                                                max_failed_replies=5), propose=propose,
                       reevaluate_events=300)
    calls = len(chat.calls)
    # llm+tr with the same seed asks the same first questions: no new model calls
    again = run_design(problem, OptimizerConfig(name="llm+tr", budget=20, seed=1,
                                                refine_fraction=0.2, max_failed_replies=5),
                       propose=propose, reevaluate_events=300)
    assert len(chat.calls) == calls and again.calls == 20
    assert again.best_so_far[:16] == first.best_so_far[:16]
    assert len(list((tmp_path / "cache").glob("*.json"))) == calls


def test_archived_replies_replay_a_run_on_a_fresh_cache(tmp_path):
    problem = load_problem("spectrometer")
    chat = FakeChat(problem)
    config = OptimizerConfig(name="llm", budget=16, seed=1, max_failed_replies=5)
    first = run_design(problem, config, propose=client_proposer(chat, tmp_path / "a" / "m"),
                       reevaluate_events=300)
    archive = tmp_path / "replies.jsonl.gz"
    n = export_replies(tmp_path / "a", archive)
    assert n == len(chat.calls) > 0
    before = archive.read_bytes()
    assert export_replies(tmp_path / "a", archive) == n and archive.read_bytes() == before
    # a fresh machine: the archive fills an empty cache, the run asks the model nothing
    assert import_replies(archive, tmp_path / "b") == n
    assert import_replies(archive, tmp_path / "b") == 0  # present ones are kept
    silent = FakeChat(problem)
    again = run_design(problem, config, propose=client_proposer(silent, tmp_path / "b" / "m"),
                       reevaluate_events=300)
    assert silent.calls == [] and again.best_so_far == first.best_so_far


def test_a_damaged_reply_archive_is_a_clear_error(tmp_path):
    from aihep.errors import ConfigError

    archive = tmp_path / "replies.jsonl.gz"
    with gzip.open(archive, "wt") as out:
        out.write('{"model": "../x", "sha256": "' + "0" * 64 + '", "reply": "", "seconds": 1}\n')
    with pytest.raises(ConfigError, match="line 1: bad model name"):
        import_replies(archive, tmp_path / "cache")
    with gzip.open(archive, "wt") as out:
        out.write("not json\n")
    with pytest.raises(ConfigError, match="line 1 is not a reply"):
        import_replies(archive, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    assert import_replies(tmp_path / "missing.jsonl.gz", tmp_path / "cache") == 0


def test_the_embedded_models_grammar_can_forbid_stop():
    from aihep.agent.llm import _call_schema

    tool = propose_tool(load_problem("spectrometer"), 8)
    for detailed in (True, False):
        with_stop = json.dumps(_call_schema([tool], detailed))
        without = json.dumps(_call_schema([tool], detailed, allow_stop=False))
        assert '"stop"' in with_stop and '"stop"' not in without
