"""The playbook planner: how an expert attacks a resonance hunt, with no model at all.

Plan: inspect the data -> hunt over sliding signal regions with the first methods -> validate
-> if inconclusive, hunt again with the methods not tried yet -> report. The planner is
deterministic: the same task and memory give the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED

NEEDS_REFERENCE = ("ae", "flow", "idealized")  # learn from a background-only sample


@dataclass(frozen=True)
class Step:
    """One planned tool call and why."""

    tool: str
    arguments: dict[str, Any]
    rationale: str


class ResonanceTask(BaseModel):
    """Is there a resonance in this dataset? Paths as given by the user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path
    reference: Path | None = None
    labels: Path | None = None
    first_methods: tuple[str, ...] = ("cwola",)
    fallback_methods: tuple[str, ...] = Field(("cathode", "ae"), description=(
        "tried when the first hunt is inconclusive; ae needs a reference"))
    hunt: dict[str, Any] = Field(default_factory=dict, description="HuntConfig overrides")
    seed: int = DEFAULT_SEED


@dataclass
class PlaybookPlanner:
    """Plans and refines the resonance-hunt playbook."""

    name: str = "playbook"
    version: str = "1"
    tried: list[tuple[str, ...]] = field(default_factory=list)

    def plan(self, task: ResonanceTask, run_dir: Path,
             remembered: list[tuple[str, ...]] | None = None) -> list[Step]:
        """The opening steps; methods already tried on the same data (memory) are skipped."""
        self.tried = list(remembered or [])
        steps = [Step("inspect_dataset", {"path": str(task.data)},
                      "check columns, size and mass range before any fit")]
        methods = self._next_methods(task)
        if methods:
            steps.append(self._hunt(task, run_dir, methods,
                                    "model-agnostic search: weakly supervised scores in "
                                    "sliding signal regions, cut, bump hunt"))
        return steps

    def refine(self, task: ResonanceTask, run_dir: Path, last: dict[str, Any]) -> list[Step]:
        """Next steps after a hunt: the next planned methods, also after a claim.

        The answer's p is Bonferroni over the hunts run; stopping at the first claim would let
        hunt k spend alpha / k of its own (alpha (1 + 1/2 + 1/3) = 1.83 alpha over three
        hunts), so every planned hunt runs and the correction counts all of them."""
        methods = self._next_methods(task)
        if not methods:
            return []
        verdict = "a candidate" if last.get("discovery") else "inconclusive"
        return [self._hunt(task, run_dir, methods, f"{verdict} (global p = "
                           f"{last.get('p_value', float('nan')):.2g}): the other planned "
                           "methods, each a trial of the answer")]

    def _next_methods(self, task: ResonanceTask) -> tuple[str, ...]:
        for group in (task.first_methods, *[(m,) for m in task.fallback_methods]):
            usable = tuple(m for m in group
                           if m not in NEEDS_REFERENCE or task.reference is not None)
            if usable and usable not in self.tried:
                return usable
        return ()

    def _hunt(self, task: ResonanceTask, run_dir: Path, methods: tuple[str, ...],
              rationale: str) -> Step:
        self.tried.append(methods)
        config = {"sr_scan": True, "seed": task.seed, **task.hunt, "methods": list(methods)}
        arguments = {"data": str(task.data), "out": str(run_dir / f"hunt_{'_'.join(methods)}"),
                     "config": config, "reference": str(task.reference) if task.reference
                     else None, "labels": str(task.labels) if task.labels else None}
        return Step("hunt", arguments, rationale)
