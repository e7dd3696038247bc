"""Language-model backends for the design proposer (:mod:`aihep.design.proposer`).

The model is offered one tool, ``propose_designs``, whose JSON schema lists every parameter
of the problem (numbers with bounds, choices as enums), so the embedded model's grammar
(llama.cpp) or an OpenAI-compatible server's function calling return designs in the
problem's own schema. The fixed part of the prompt is the system message (cacheable), the
memory of best designs the user message. Anything that is not such a call is handed back as
text and counted as an unusable reply by the proposer loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aihep.agent.llm import LlamaChat, LLMConfig, OpenAIChat, default_model_dir
from aihep.design.problem import Continuous, DesignProblem
from aihep.design.proposer import ProposalState, Proposer
from aihep.errors import ConfigError


def propose_tool(problem: DesignProblem, n_designs: int) -> dict[str, Any]:
    """The ``propose_designs`` tool: ``{"designs": [design, ...]}`` in the problem's schema."""
    properties: dict[str, Any] = {}
    for p in problem.parameters:
        if isinstance(p, Continuous):
            properties[p.name] = {"type": "number", "minimum": p.low, "maximum": p.high}
        else:
            properties[p.name] = {"enum": list(p.choices)}
    design = {"type": "object", "properties": properties, "required": problem.names}
    return {"name": "propose_designs",
            "description": f"Propose {n_designs} designs to evaluate next.",
            "parameters": {"type": "object", "properties": {"designs": {
                "type": "array", "items": design, "minItems": 1, "maxItems": n_designs}},
                "required": ["designs"]}}


def chat_proposer(kind: str, model_path: Path | None = None, config: LLMConfig | None = None,
                  n_threads: int = 1) -> Proposer:
    """A proposer over an OpenAI-compatible server (``openai``) or the embedded model
    (``local``: a GGUF file, default the one ``aihep agent fetch-model`` gets)."""
    if kind == "openai":
        client: Any = OpenAIChat(config or LLMConfig())
    elif kind == "local":
        from aihep.agent.model_fetch import MODEL_NAME

        path = Path(model_path) if model_path else default_model_dir() / MODEL_NAME
        client = LlamaChat(path, n_threads=n_threads, tools=("propose_designs",),
                           max_tokens=2048)
    else:
        msg = f"unknown language-model backend {kind!r} (openai or local)"
        raise ConfigError(msg)
    return client_proposer(client)


def client_proposer(client: Any) -> Proposer:
    """A proposer over any ``ChatClient`` (a fake one in tests)."""

    def propose(prompt: str, state: ProposalState) -> str:
        tool = propose_tool(state.problem, state.n_designs)
        messages = [{"role": "system", "content": state.fixed_prompt or prompt},
                    {"role": "user", "content": state.memory_prompt or "Propose designs."}]
        name, arguments = client.complete(messages, [tool])
        if name != tool["name"]:
            return arguments if isinstance(arguments, str) else ""
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    return propose
