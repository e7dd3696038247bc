"""Counted, recorded evaluations: the one door through which every optimizer calls the
simulator.

Every call is written to a hash-chained record (the agent's provenance format, entries
with ``tool = "evaluate"``: design, seed, objective, metrics, optimizer, wall time). A
killed run resumes by **replaying** its record: the optimizer starts again from its seed,
and while its proposals match the recorded ones the recorded values are returned instead
of simulating; LLM replies are replayed the same way (``tool = "propose"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aihep.design.problem import Design, DesignProblem
from aihep.errors import ConfigError
from aihep.workflow.provenance import ProvenanceRecord, read_entries
from aihep.workflow.seeds import derive_seed


class BudgetExhausted(Exception):
    """Raised by the evaluator when the budget of simulator calls is spent."""


@dataclass(frozen=True)
class Evaluation:
    """One simulator call."""

    call: int
    design: Design
    seed: int
    objective: float
    metrics: dict[str, float]
    projected: bool
    status: str  # "ok" or "failed: <reason>"
    seconds: float
    source: str


def same_design(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal parameter values (floats within 1e-12 relative)."""
    if set(a) != set(b):
        return False
    for k, va in a.items():
        vb = b[k]
        if isinstance(va, float) or isinstance(vb, float):
            try:
                if not math.isclose(float(va), float(vb), rel_tol=1e-12, abs_tol=1e-12):
                    return False
            except (TypeError, ValueError):
                return False
        elif va != vb:
            return False
    return True


class RunRecord:
    """The record of one optimization run: appends new entries, replays old ones in order."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._record = ProvenanceRecord(path) if path is not None else None
        self._replay: dict[str, list[dict[str, Any]]] = {}
        if path is not None and path.is_file():
            for entry in read_entries(path):
                self._replay.setdefault(entry["tool"], []).append(entry)
        self._cursor: dict[str, int] = {}

    def replayed(self, tool: str) -> dict[str, Any] | None:
        """The next recorded entry of ``tool`` not yet replayed, or None."""
        entries = self._replay.get(tool, [])
        i = self._cursor.get(tool, 0)
        if i < len(entries):
            self._cursor[tool] = i + 1
            return entries[i]
        return None

    def append(self, actor: str, tool: str, arguments: dict[str, Any], status: str,
               duration_s: float, extra: dict[str, Any]) -> None:
        if self._record is not None:
            self._record.append(actor=actor, tool=tool, arguments=arguments, status=status,
                                duration_s=duration_s, extra=extra)

    @property
    def replayed_count(self) -> int:
        return sum(self._cursor.values())


class Evaluator:
    """Projects, counts, simulates (or replays) and records; the optimizers' objective.

    Args:
        problem: the design problem.
        seed: the run's seed; call i simulates with a seed derived from (seed, i).
        budget: the number of simulator calls allowed.
        optimizer: name written with every evaluation.
        record: where evaluations are recorded and replayed from.
        progress: called after every call with (calls, budget, best value so far).
    """

    def __init__(self, problem: DesignProblem, seed: int, budget: int, optimizer: str,
                 record: RunRecord | None = None,
                 progress: Callable[[int, int, float], None] | None = None) -> None:
        self.problem = problem
        self.seed = seed
        self.budget = budget
        self.optimizer = optimizer
        self.record = record or RunRecord(None)
        self.progress = progress
        self.history: list[Evaluation] = []
        self.limit = budget  # a phase may lower it (the proposer before trust-region)

    @property
    def calls(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return max(min(self.budget, self.limit) - self.calls, 0)

    def best(self) -> Evaluation:
        """The evaluation with the lowest (noisy) objective among successful ones."""
        ok = [e for e in self.history if e.status == "ok"]
        if not ok:
            first = (f"; the first: {self.history[0].status.removeprefix('failed: ')}"
                     if self.history else "")
            msg = (f"no evaluation succeeded ({len(self.history)} of {len(self.history)} "
                   f"simulator calls failed{first})")
            raise ConfigError(msg)
        return min(ok, key=lambda e: e.objective)

    def _failure_value(self) -> float:
        ok = [e.objective for e in self.history if e.status == "ok"]
        return 2 * max(ok) if ok else 1e6

    def __call__(self, design: Mapping[str, Any], source: str = "") -> float:
        """The objective of ``design`` (projected first); raises BudgetExhausted when spent."""
        if self.remaining <= 0:
            raise BudgetExhausted
        feasible = self.problem.project(design)
        projected = not same_design(dict(design), feasible)
        call = self.calls
        seed = derive_seed(self.seed, "call", call) % 2**31
        old = self.record.replayed("evaluate")
        if old is not None:
            if not same_design(old["arguments"]["design"], feasible):
                msg = (f"{self.record.path}: call {call} proposed another design than the "
                       "record holds (the optimizer is not deterministic); start a new run")
                raise ConfigError(msg)
            extra = old["extra"]
            evaluation = Evaluation(call, feasible, seed, float(extra["objective"]),
                                    extra["metrics"], bool(extra["projected"]), old["status"],
                                    float(old["duration_s"]), extra.get("source", ""))
        else:
            start = time.perf_counter()
            try:
                metrics = self.problem.simulate(feasible, seed)
                value = self.problem.combine(metrics)
                if not math.isfinite(value):
                    msg = f"objective is {value}"
                    raise ValueError(msg)
                status = "ok"
            except Exception as error:  # a simulator crash is a recorded, counted failure
                metrics, value = {}, float("nan")
                status = f"failed: {type(error).__name__}: {error}"[:300]
            seconds = time.perf_counter() - start
            evaluation = Evaluation(call, feasible, seed, value, metrics, projected, status,
                                    seconds, source)
            self.record.append(self.optimizer, "evaluate",
                               {"design": feasible, "seed": seed, "call": call}, status,
                               seconds, {"objective": value if status == "ok" else None,
                                         "metrics": metrics, "projected": projected,
                                         "source": source})
        if evaluation.status != "ok":
            evaluation = Evaluation(call, feasible, seed, float("nan"), {},
                                    evaluation.projected, evaluation.status,
                                    evaluation.seconds, evaluation.source)
        self.history.append(evaluation)
        value = evaluation.objective if evaluation.status == "ok" else self._failure_value()
        if self.progress is not None:
            ok = [e.objective for e in self.history if e.status == "ok"]
            self.progress(self.calls, self.budget, min(ok) if ok else float("nan"))
        return value

    def best_so_far(self) -> list[float]:
        """The lowest noisy objective after each call (NaN before the first success)."""
        out, best = [], float("inf")
        for e in self.history:
            if e.status == "ok":
                best = min(best, e.objective)
            out.append(best if math.isfinite(best) else float("nan"))
        return out


@contextmanager
def isolated_global_rngs(seed: int) -> Iterator[None]:
    """Seed numpy's, Python's and torch's global generators inside the block only.

    For libraries that seed globals themselves (cma, Py-BOBYQA, stable-baselines3): the
    caller's states are restored on exit.
    """
    import random

    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        import torch

        torch_state = torch.random.get_rng_state()
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_state = None
    np.random.seed(seed % 2**32)
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        if torch_state is not None:
            import torch

            torch.random.set_rng_state(torch_state)


def reevaluate(problem: DesignProblem, design: Mapping[str, Any], events: int, seed: int,
               ) -> tuple[float, float, dict[str, float]]:
    """Mean objective, its standard error and the mean metrics over ``events`` fresh events,
    in batches of the problem's events per evaluation, each with its own seed, with the
    objective's ``reevaluate_settings`` (e.g. an independent shower library)."""
    per = problem.objective_spec.events
    batches = max(1, round(events / per))
    metrics = [problem.simulate(problem.project(design),
                                derive_seed(seed, "reevaluate", i) % 2**31, per,
                                reevaluation=True)
               for i in range(batches)]
    values = [problem.combine(m) for m in metrics]
    error = float(np.std(values, ddof=1) / np.sqrt(batches)) if batches > 1 else float("nan")
    mean_metrics = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
    return float(np.mean(values)), error, mean_metrics
