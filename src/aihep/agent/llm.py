"""An OpenAI-compatible LLM planner (vLLM, Ollama, llama.cpp server or a hosted API).

The model sees the task, the tool schemas and what happened so far, and proposes one tool
call at a time through function calling. Every proposal is validated against the tool's
schema and the run's policy *before* it becomes a step; an invalid one is sent back to the
model with the error, at most ``max_retries`` times, after which the playbook planner takes
over. Every proposal, error and fallback is kept in ``transcript`` (the orchestrator records
it in the provenance record). Needs ``pip install aihep[llm]`` (the ``openai`` client); base
URL, model and key come from the config or ``AIHEP_LLM_BASE_URL``, ``AIHEP_LLM_MODEL``,
``AIHEP_LLM_API_KEY``.

:class:`LlamaChat` is the embedded alternative (``pip install 'aihep[llm-local]'``): a GGUF
model run in-process by llama.cpp, its reply constrained by a grammar built from the tool
schemas (JSON ``{"tool": ..., "arguments": {...}}``), so it cannot emit anything but a call
of a registered tool or ``stop``. The same validation, retries and fallback apply.

The model is also the **LLM reviewer** (:meth:`LLMPlanner.review`): shown a candidate that
passed every deterministic reviewer check (:mod:`aihep.discovery.review`), it may add doubts
and veto the claim; it is never asked about a candidate that failed a check, so it cannot
override one. A reply that is not a valid review adds nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.agent.playbook import PlaybookPlanner, ResonanceTask, Step
from aihep.agent.tools import ToolError, ToolRegistry
from aihep.errors import ConfigError

SYSTEM = ("You are a particle physicist driving the aihep toolkit to answer: is there a "
          "resonance in this dataset? Call exactly one tool per reply with valid arguments. "
          "Write outputs only inside the run directory. Reply with no tool call when done.")


class LLMConfig(BaseModel):
    """Where the model is served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(None, description="e.g. http://localhost:8000/v1")
    model: str | None = None
    api_key: str | None = None
    temperature: float = 0.0
    max_retries: int = Field(2, ge=0)


class ChatClient(Protocol):
    """The part of ``openai.OpenAI`` the planner uses (a fake stands in for tests)."""

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
                 ) -> tuple[str | None, dict[str, Any] | str | None]:
        """Return (tool name or None, arguments as dict or raw JSON text)."""
        ...

REVIEW_SYSTEM = (
    "You review a claimed resonance discovery before it is reported. Every deterministic "
    "check already passed; list concrete doubts about the result you are shown (numbers "
    "that do not fit together, a yield or mass error that is implausible, a selection that "
    "could sculpt the spectrum) and set veto to true only if a doubt makes the claim not "
    "credible. Reply by calling review.")
REVIEW_TOOL = {
    "name": "review",
    "description": "Doubts about a claimed discovery; veto = the claim is not credible.",
    "parameters": {"type": "object", "properties": {
        "doubts": {"type": "array", "items": {"type": "string"}},
        "veto": {"type": "boolean"}}, "required": ["doubts", "veto"]},
}
#: what the reviewer sees of a candidate: the hunt's answer without paths
REVIEWED_KEYS = ("p_value", "p_value_single_hunt", "significance", "m_res", "n_signal",
                 "daughter_masses", "methods", "signal_region_gev", "bump_window_gev",
                 "warnings", "review")


def llm_review(client: ChatClient, candidate: dict[str, Any]) -> dict[str, Any]:
    """Ask ``client`` for doubts about ``candidate`` (a claim that passed every check).

    Returns ``{"doubts": [...], "veto": bool}``, plus ``error`` when the reply was not a valid
    review (then no doubts and no veto: the model can add doubts, not noise).
    """
    shown = {k: candidate[k] for k in REVIEWED_KEYS if k in candidate}
    messages = [{"role": "system", "content": REVIEW_SYSTEM},
                {"role": "user", "content": json.dumps(shown, default=str)[:6000]}]
    try:
        name, raw = client.complete(messages, [REVIEW_TOOL])
        data = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        doubts, veto = data["doubts"], data["veto"]
        if name != "review" or not isinstance(veto, bool) or not isinstance(
                doubts, list):
            msg = f"expected a review call, got {name!r}"
            raise TypeError(msg)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return {"doubts": [], "veto": False, "error": f"not a review: {exc}"[:300]}
    return {"doubts": [str(d)[:500] for d in doubts][:10], "veto": veto}


class OpenAIChat:
    """``ChatClient`` over the ``openai`` package (any OpenAI-compatible server)."""

    def __init__(self, config: LLMConfig) -> None:
        try:
            import openai
        except ImportError:
            msg = "the LLM planner needs the openai client: pip install 'aihep[llm]'"
            raise ConfigError(msg) from None
        base_url = config.base_url or os.environ.get("AIHEP_LLM_BASE_URL")
        self.model = config.model or os.environ.get("AIHEP_LLM_MODEL")
        if not base_url or not self.model:
            msg = "LLM planner: set base_url and model (or AIHEP_LLM_BASE_URL/_MODEL)"
            raise ConfigError(msg)
        self.client = openai.OpenAI(base_url=base_url, api_key=config.api_key or os.environ.get(
            "AIHEP_LLM_API_KEY", "not-needed"))
        self.temperature = config.temperature

    def complete(self, messages, tools):
        reply = self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=self.temperature,
            tools=[{"type": "function", "function": t} for t in tools])
        calls = reply.choices[0].message.tool_calls or []
        if not calls:
            return None, None
        return calls[0].function.name, calls[0].function.arguments


def default_model_dir() -> Path:
    """Where ``aihep agent fetch-model`` puts GGUF files (``$XDG_CACHE_HOME/aihep/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aihep" / "models"


def _call_schema(tools: list[dict[str, Any]], detailed: bool, allow_stop: bool = True
                 ) -> dict[str, Any]:
    """JSON schema of one reply: a call of one of ``tools`` (or ``stop``, if allowed)."""
    stop = ["stop"] if allow_stop else []
    if not detailed:
        return {"type": "object", "properties": {
            "tool": {"enum": [t["name"] for t in tools] + stop},
            "arguments": {"type": "object"}}, "required": ["tool", "arguments"]}
    options, defs = [], {}
    for t in tools:
        params = dict(t["parameters"])
        defs.update(params.pop("$defs", {}))
        options.append({"type": "object", "properties": {"tool": {"const": t["name"]},
                        "arguments": params}, "required": ["tool", "arguments"]})
    if allow_stop:
        options.append({"type": "object", "properties": {"tool": {"const": "stop"},
                        "arguments": {"type": "object"}}, "required": ["tool", "arguments"]})
    return {"anyOf": options, "$defs": defs}


def _tool_summary(tools: list[dict[str, Any]]) -> str:
    lines = []
    for t in tools:
        props = t["parameters"].get("properties", {})
        required = set(t["parameters"].get("required", []))
        args = ", ".join(f"{k}{'' if k in required else '?'}" for k in props)
        lines.append(f"- {t['name']}({args}): {t['description']}")
    return "\n".join(lines)


@contextmanager
def _without_amx_repack() -> Iterator[None]:
    """Load weights without llama.cpp's extra buffer types when the build uses Intel AMX.

    A llama.cpp built on an AMX machine (GGML_NATIVE, e.g. Sapphire Rapids) repacks Q4_K
    weights into AMX buffers and then crashes (segfault, or garbage tokens first) in
    ``ggml_backend_amx_mul_mat`` (llama.cpp issue 20824; seen here with the shipped model).
    ``use_extra_bufts = False`` keeps the weights in plain CPU buffers. Other builds are
    left alone (their repacking is a speed-up)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    if "AMX_INT8 = 1" not in str(info):  # bytes or str, by binding version
        yield
        return
    module = llama_cpp.llama.llama_cpp  # the binding module Llama() calls
    default = module.llama_model_default_params

    def params():
        value = default()
        value.use_extra_bufts = False
        return value

    module.llama_model_default_params = params
    try:
        yield
    finally:
        module.llama_model_default_params = default


class LlamaChat:
    """``ChatClient`` over an embedded llama.cpp model, grammar-constrained to tool calls.

    Args:
        model_path: a GGUF file (e.g. from ``aihep agent fetch-model``).
        n_threads: llama.cpp threads; keep 1 when the cores are busy (generation collapses
            otherwise).
        tools: names the model may call (default: all it is offered).
    """

    def __init__(self, model_path: str | Path, n_threads: int = 1, n_ctx: int = 8192,
                 seed: int = DEFAULT_SEED, tools: tuple[str, ...] | None = None,
                 max_tokens: int = 384, allow_stop: bool = True) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            msg = "the embedded planner needs llama-cpp-python: pip install 'aihep[llm-local]'"
            raise ConfigError(msg) from None
        path = Path(model_path)
        if not path.is_file():
            msg = f"{path}: GGUF model not found (get it with `aihep agent fetch-model`)"
            raise ConfigError(msg)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with _without_amx_repack():
            self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                             seed=seed, verbose=False)
        self.version = path.name
        self.allowed = tools
        self.max_tokens = max_tokens
        self.allow_stop = allow_stop  # False: the reply must call a tool (design proposals)

    def complete(self, messages, tools):
        if self.allowed is not None:
            tools = [t for t in tools if t["name"] in self.allowed or t is REVIEW_TOOL]
        system = (messages[0]["content"] + "\nTools:\n" + _tool_summary(tools)
                  + '\nReply with JSON {"tool": name, "arguments": {...}}'
                  + (', or {"tool": "stop", "arguments": {}} when done.' if self.allow_stop
                     else "."))
        chat = [{"role": "system", "content": system}, *messages[1:]]
        for detailed in (True, False):  # the detailed grammar can exceed llama.cpp's support
            try:
                reply = self.llm.create_chat_completion(
                    messages=chat, temperature=0.0, max_tokens=self.max_tokens,
                    response_format={"type": "json_object",
                                     "schema": _call_schema(tools, detailed, self.allow_stop)})
                break
            except (ValueError, RuntimeError):
                if not detailed:
                    raise
        text = reply["choices"][0]["message"]["content"] or ""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return "invalid-json", text  # the planner reports it back to the model
        if not isinstance(data, dict) or data.get("tool") in (None, "stop"):
            return None, None
        return str(data["tool"]), data.get("arguments") or {}


@dataclass
class LLMPlanner:
    """Model-proposed steps, validated; the playbook takes over when the model fails."""

    client: ChatClient
    registry: ToolRegistry
    check: Callable[[str, dict[str, Any]], None] = lambda tool, args: None  # policy hook
    max_retries: int = 2
    name: str = "llm"
    version: str = "openai-compatible"
    transcript: list[dict[str, Any]] = field(default_factory=list)
    fallback: PlaybookPlanner = field(default_factory=PlaybookPlanner)
    messages: list[dict[str, Any]] = field(default_factory=list)
    took_over: bool = False
    proposed: list[str] = field(default_factory=list)  # calls already proposed (no repeats)

    def plan(self, task: ResonanceTask, run_dir: Path,
             remembered: list[tuple[str, ...]] | None = None) -> list[Step]:
        self.fallback_steps = self.fallback.plan(task, run_dir, remembered)
        self.proposed = []
        recipe = next((s for s in self.fallback_steps if s.tool == "hunt"), None)
        hint = ("" if recipe is None else " A typical analysis: inspect_dataset, then hunt "
                f"with arguments like {json.dumps(recipe.arguments)}; if that finds nothing "
                "(p_value > 1e-3), hunt again with other methods (cathode, ae, idealized "
                "need or profit from a reference) and a new out directory; stop after a "
                "discovery or when the methods are exhausted.")
        self.messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
            f"Data: {task.data}. Reference: {task.reference}. Run directory: {run_dir}. "
            f"Methods already tried on these data: {remembered or []}.{hint}")}]
        step = self._propose()
        return [step] if step else self._take_over("plan", self.fallback_steps)

    def refine(self, task: ResonanceTask, run_dir: Path, last: dict[str, Any]) -> list[Step]:
        if self.took_over:
            return self.fallback.refine(task, run_dir, last)
        if "tool" in last:  # any step but a successful hunt: its status and (short) output
            text = json.dumps(last, default=str)
            text = text if len(text) < 1500 else text[:1500] + " ..."
        else:
            text = json.dumps({k: last.get(k) for k in ("p_value", "discovery", "m_res",
                                                       "n_signal")}, default=str)
        done = ", ".join(k.split("{")[0] for k in self.proposed) or "none"
        status = ("" if any(k.startswith("hunt{") for k in self.proposed) else
                  " No hunt has run yet: the next step of the analysis is a hunt.")
        self.messages.append({"role": "user", "content": f"Result: {text}. Calls done so "
                              f"far: {done}. Do not repeat a call.{status}"})
        step = self._propose()
        if step:
            return [step]
        if not self.took_over and any(k.startswith("hunt{") for k in self.proposed):
            return []  # the model stopped after hunting: its answer stands
        if not self.took_over:  # it stopped without answering the question
            self.transcript.append({"event": "model stopped before any hunt"})
        # The playbook takes over: its hunts the model did not run, then its refinements.
        taken = set(self.proposed)
        return self._take_over("refine", [s for s in self.fallback_steps
                                          if _key(s.tool, s.arguments) not in taken])

    def review(self, candidate: dict[str, Any]) -> dict[str, Any]:
        """The model's doubts about a claim that passed every deterministic check."""
        verdict = llm_review(self.client, candidate)
        self.transcript.append({"event": "review", **verdict})
        return verdict

    def _take_over(self, when: str, steps: list[Step]) -> list[Step]:
        self.took_over = True
        self.transcript.append({"event": "playbook takes over", "when": when})
        return steps

    def _propose(self) -> Step | None:
        schemas = self.registry.schemas()
        for attempt in range(self.max_retries + 1):
            name, raw = self.client.complete(self.messages, schemas)
            if name is None:
                self.transcript.append({"event": "model stops", "attempt": attempt})
                return None
            try:
                arguments = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
                tool = self.registry.get(name)
                parsed = tool.validate(arguments)
                self.check(name, arguments)
                if _key(name, arguments) in self.proposed:
                    msg = ("this exact call already ran (its result is above): propose the "
                           "next step, or stop")
                    raise ToolError(msg)
            except (ToolError, json.JSONDecodeError, TypeError) as exc:
                self.transcript.append({"event": "invalid proposal", "attempt": attempt,
                                        "tool": name, "arguments": raw, "error": str(exc)})
                self.messages.append({"role": "user", "content": f"Invalid call: {exc}. "
                                      "Propose a corrected call."})
                continue
            self.proposed.append(_key(name, arguments))
            self.transcript.append({"event": "proposal", "tool": name,
                                    "arguments": parsed.model_dump(mode="json")})
            self.messages.append({"role": "assistant", "content": f"call {name} "
                                  f"{json.dumps(arguments, default=str)}"})
            return Step(name, arguments, "proposed by the model")
        self.transcript.append({"event": "retries exhausted"})
        self.took_over = True
        return None


def _key(tool: str, arguments: dict[str, Any]) -> str:
    return tool + json.dumps(arguments, sort_keys=True, default=str)


def make_planner(kind: str = "playbook", model_path: str | Path | None = None,
                 config: LLMConfig | None = None, n_threads: int = 1) -> Any:
    """The planner called ``kind``: playbook (no model), llm (OpenAI-compatible), local."""
    from aihep.agent.registry import default_registry

    if kind == "playbook":
        return PlaybookPlanner()
    config = config or LLMConfig()
    if kind == "llm":
        return LLMPlanner(OpenAIChat(config), default_registry(),
                          max_retries=config.max_retries)
    if kind == "local":
        from aihep.agent.model_fetch import MODEL_NAME

        path = Path(model_path) if model_path else default_model_dir() / MODEL_NAME
        chat = LlamaChat(path, n_threads=n_threads)
        return LLMPlanner(chat, default_registry(), max_retries=config.max_retries,
                          name="llama.cpp", version=chat.version)
    msg = f"unknown planner '{kind}' (playbook, llm or local)"
    raise ConfigError(msg)
