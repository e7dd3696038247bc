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

from aihep._atomic import write_atomic, write_json_atomic
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
                  n_threads: int = 1, cache_dir: Path | None = None) -> Proposer:
    """A proposer over an OpenAI-compatible server (``openai``) or the embedded model
    (``local``: a GGUF file, default the one ``aihep agent fetch-model`` gets).

    With ``cache_dir``, replies are kept by the SHA-256 of the prompt (the model is
    deterministic at temperature 0): a run that asks the same questions (``llm+tr`` repeats
    the first rounds of ``llm`` with the same seed) reuses them; each file also holds the
    seconds the model took."""
    if kind == "openai":
        client: Any = OpenAIChat(config or LLMConfig())
    elif kind == "local":
        from aihep.agent.model_fetch import MODEL_NAME

        path = Path(model_path) if model_path else default_model_dir() / MODEL_NAME
        client = LlamaChat(path, n_threads=n_threads, tools=("propose_designs",),
                           max_tokens=2048, allow_stop=False)
    else:
        msg = f"unknown language-model backend {kind!r} (openai or local)"
        raise ConfigError(msg)
    name = (Path(model_path).name if model_path else "default") if kind == "local" else (
        getattr(client, "model", None) or "openai")
    return client_proposer(client, None if cache_dir is None else Path(cache_dir) / name)


def import_replies(archive: Path, cache_dir: Path) -> int:
    """Copy the replies of an archive (:func:`export_replies`) that are missing from a reply
    cache (``cache_dir/<model>/<prompt sha256>.json``) into it; how many were added."""
    import gzip

    archive, cache_dir = Path(archive), Path(cache_dir)
    if not archive.is_file():
        return 0
    added = 0
    with gzip.open(archive, "rt") as lines:
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                model, digest = str(entry["model"]), str(entry["sha256"])
                reply = {"reply": entry["reply"], "seconds": float(entry["seconds"])}
            except (ValueError, KeyError, TypeError):
                msg = (f"{archive}: line {number} is not a reply (expected JSON with model, "
                       "sha256, reply, seconds)")
                raise ConfigError(msg) from None
            if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
                    and model and "/" not in model and not model.startswith(".")):
                msg = f"{archive}: line {number}: bad model name or sha256"
                raise ConfigError(msg)
            path = cache_dir / model / f"{digest}.json"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json_atomic(path, reply)
                added += 1
    return added


def export_replies(cache_dir: Path, archive: Path) -> int:
    """Write every reply of a reply cache into ``archive``: gzip JSON lines (model, sha256,
    reply, seconds) sorted by model and prompt hash, without a timestamp, so the same
    replies give the same bytes (an archive kept in git changes only when replies are
    added). A run on another machine replays them with :func:`import_replies`; how many."""
    import gzip

    entries = []
    for path in sorted(Path(cache_dir).glob("*/*.json")):
        data = json.loads(path.read_text())
        entries.append(json.dumps({"model": path.parent.name, "sha256": path.stem,
                                   "reply": data["reply"], "seconds": data["seconds"]},
                                  sort_keys=True))
    if entries:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                                        mtime=0) as out:
                out.write(("\n".join(entries) + "\n").encode())

        write_atomic(archive, write)
    return len(entries)


def client_proposer(client: Any, cache_dir: Path | None = None) -> Proposer:
    """A proposer over any ``ChatClient`` (a fake one in tests), replies optionally cached
    in ``cache_dir`` by prompt."""
    import hashlib
    import time

    def propose(prompt: str, state: ProposalState) -> str:
        path = None
        if cache_dir is not None:
            path = cache_dir / f"{hashlib.sha256(prompt.encode()).hexdigest()}.json"
            if path.is_file():
                return json.loads(path.read_text())["reply"]
        start = time.perf_counter()
        reply = ask(state, prompt)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, {"reply": reply, "seconds": time.perf_counter() - start})
        return reply

    def ask(state: ProposalState, prompt: str) -> str:
        tool = propose_tool(state.problem, state.n_designs)
        messages = [{"role": "system", "content": state.fixed_prompt or prompt},
                    {"role": "user", "content": state.memory_prompt or "Propose designs."}]
        name, arguments = client.complete(messages, [tool])
        if name != tool["name"]:
            return arguments if isinstance(arguments, str) else ""
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    return propose
