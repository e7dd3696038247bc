"""Proposal by a language model (or a deterministic heuristic in its place).

The prompt has a fixed part first (the problem: parameters, constraints, objective, the
reply format), so a backend can cache it, and a variable part last (the memory of the best
designs so far with their objectives, the round). The reply must be JSON
``{"designs": [{<parameter>: <value>, ...}, ...]}``; each design is checked against the
problem: a design with missing, unknown or out-of-range values, or one that breaks a
constraint, is projected onto the feasible set and counted; a reply that is not JSON is a
counted failure.

Backends are plain callables ``propose(prompt, state) -> str``: the agent layer adapts its
planners' chat clients (embedded llama.cpp model, OpenAI-compatible server);
:func:`heuristic_proposer` is the deterministic stand-in for tests and the
``heuristic+tr`` control.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aihep.design.problem import Continuous, Design, DesignProblem, Discrete
from aihep.workflow.seeds import derive_seed


@dataclass
class ProposalState:
    """What a proposer may know: the problem, the memory (best first), the round."""

    problem: DesignProblem
    memory: list[tuple[Design, float]]
    round: int
    n_designs: int
    seed: int
    fixed_prompt: str = ""  # the cacheable part (problem, format)
    memory_prompt: str = ""  # the part that changes every round


Proposer = Callable[[str, ProposalState], str]


def problem_prompt(problem: DesignProblem, n_designs: int) -> str:
    """The fixed part of the prompt: the problem and the reply format."""
    params = []
    for p in problem.parameters:
        if isinstance(p, Continuous):
            params.append(f"- {p.name}: number in [{p.low:g}, {p.high:g}] {p.unit}".rstrip())
        else:
            params.append(f"- {p.name}: one of {json.dumps(p.choices)} {p.unit}".rstrip())
    constraints = []
    for c in problem.constraints:
        if c.kind == "budget":
            constraints.append(f"- sum of ({', '.join(c.parameters)})^{c.power:g} <= "
                               f"{c.limit:g}")
        elif c.kind == "ordering":
            constraints.append(f"- {' < '.join(c.parameters)}, neighbours at least "
                               f"{c.min_gap:g} apart")
        else:
            constraints.append(f"- at least {c.count} of ({', '.join(c.parameters)}) non-zero")
    weights = " + ".join(f"{w:g} x {m}" for m, w in problem.objective_spec.weights.items())
    return "\n".join([
        f"You optimize a detector design: {problem.name}.",
        problem.description,
        "Parameters:", *params,
        "Hard constraints (designs that break them are projected onto the feasible set):",
        *(constraints or ["- none"]),
        f"Objective (lower is better, measured with noise): {weights}.",
        f"Baseline design: {json.dumps(problem.baseline)}",
        f"Reply with JSON only: {{\"designs\": [ ... {n_designs} objects, each giving every "
        "parameter ... ]}, numbers with at most 3 decimals. Propose designs that differ from "
        "the ones already tried; mix small changes of the best designs with bolder ones.",
    ])


def memory_prompt(memory: list[tuple[Design, float]], round_: int) -> str:
    """The variable part: the best designs so far and their objectives."""
    if not memory:
        return f"Round {round_}. No design evaluated yet."
    lines = [f"Round {round_}. Best designs so far (objective, design):"]
    lines += [f"{value:.4g} {json.dumps(rounded(design))}" for design, value in memory]
    return "\n".join(lines)


def rounded(design: Design, digits: int = 4) -> Design:
    """``design`` with its numbers to ``digits`` significant digits: a model copies what it
    is shown, and 16-digit floats made the shipped 0.5B model's replies overrun its token
    limit."""
    return {k: float(f"{v:.{digits}g}") if isinstance(v, float) else v
            for k, v in design.items()}


@dataclass
class ParsedReply:
    """Designs taken from a reply and what had to be repaired."""

    designs: list[dict[str, Any]] = field(default_factory=list)
    usable: bool = True
    problem: str = ""


def parse_reply(problem: DesignProblem, reply: str, n_designs: int) -> ParsedReply:
    """Designs from a reply (at most ``n_designs``); unusable replies say why."""
    start = min((i for i in (reply.find("{"), reply.find("[")) if i >= 0), default=-1)
    if start < 0:
        return ParsedReply(usable=False, problem="no JSON in the reply")
    try:
        data, _ = json.JSONDecoder().raw_decode(reply[start:])
    except json.JSONDecodeError as error:
        complete = complete_designs(reply[start:])
        if not complete:
            return ParsedReply(usable=False, problem=f"not JSON ({error.msg})")
        return ParsedReply(designs=complete[:n_designs],
                           problem=f"cut off: {len(complete)} complete designs kept")
    if isinstance(data, dict):
        data = data.get("designs", [data] if set(data) & set(problem.names) else None)
    if not isinstance(data, list):
        return ParsedReply(usable=False, problem="no list of designs")
    designs = [d for d in data if isinstance(d, dict)][:n_designs]
    if not designs:
        return ParsedReply(usable=False, problem="no design objects")
    return ParsedReply(designs=designs)


def complete_designs(text: str) -> list[dict[str, Any]]:
    """The design objects that are complete in a reply cut off (at the token limit) inside
    its list of designs: ``{"designs": [{...}, {...}, {"z1": 1.`` gives the first two."""
    bracket = text.find("[")
    if bracket < 0:
        return []
    decoder, i = json.JSONDecoder(), bracket + 1
    out: list[dict[str, Any]] = []
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        try:
            item, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
        if isinstance(item, dict):
            out.append(item)


def heuristic_proposer(step: float = 0.1, flip: float = 0.2) -> Proposer:
    """A deterministic stand-in for a language model: Gaussian steps (``step`` x range) on
    continuous parameters and one-choice moves (probability ``flip``) on discrete ones
    around the best designs of the memory, as JSON."""

    def propose(prompt: str, state: ProposalState) -> str:
        problem = state.problem
        rng = np.random.default_rng(derive_seed(state.seed, "heuristic", state.round))
        parents = [d for d, _ in state.memory[:3]] or [dict(problem.baseline)]
        designs = []
        for i in range(state.n_designs):
            parent = parents[i % len(parents)]
            child: dict[str, Any] = {}
            for p in problem.parameters:
                v = parent[p.name]
                if isinstance(p, Continuous):
                    child[p.name] = float(v) + rng.normal(0, step * (p.high - p.low))
                elif isinstance(p, Discrete) and rng.random() < flip:
                    j = p.choices.index(v) + int(rng.choice([-1, 1]))
                    child[p.name] = p.choices[min(max(j, 0), len(p.choices) - 1)]
                else:
                    child[p.name] = v
            designs.append(child)
        return json.dumps({"designs": designs})

    return propose
