"""The embedded llama.cpp planner on a real GGUF model (runs when aihep[llm-local] and the
fetched model are present; skipped with the reason otherwise)."""

from __future__ import annotations

import pytest
from test_orchestrator import FAST, _write_table

from aihep.agent.llm import LlamaChat, LLMPlanner, default_model_dir
from aihep.agent.model_fetch import MODEL_NAME
from aihep.agent.orchestrator import run_agent
from aihep.agent.playbook import ResonanceTask
from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import verify_run

pytest.importorskip("llama_cpp", reason="embedded planner not installed: "
                    "pip install 'aihep[llm-local]'")
MODEL = default_model_dir() / MODEL_NAME
if not MODEL.is_file():
    pytest.skip(f"no model at {MODEL}: run `aihep agent fetch-model`", allow_module_level=True)


def test_grammar_constrained_model_proposes_a_valid_first_call(tmp_path):
    data = _write_table(tmp_path / "data.parquet", 6000, 300, 8)
    chat = LlamaChat(MODEL, n_threads=1, tools=("inspect_dataset", "hunt"))
    planner = LLMPlanner(chat, default_registry(), max_retries=2, name="llama.cpp",
                         version=chat.version)
    # Only inspection is allowed, so the test stays fast whatever the model proposes next.
    policy = Policy(read_paths=(data,), run_dir=tmp_path / "run",
                    allowed_tools=("inspect_dataset",))
    result = run_agent(ResonanceTask(data=data, hunt=FAST, seed=3), tmp_path / "run",
                       policy=policy, planner=planner, max_rounds=2)
    events = [t["event"] for t in planner.transcript]
    # Every reply was a grammar-valid JSON call; the first one also passed schema and policy.
    assert events[0] == "proposal", planner.transcript
    assert planner.transcript[0]["tool"] in ("inspect_dataset", "hunt")
    assert result.steps and result.steps[0]["status"] == "ok"
    assert verify_run(result.run_dir).ok

