"""One optimization run: an optimizer on a problem with a budget, recorded, resumable,
its best design re-evaluated on fresh events.

    result = run_design(load_problem("spectrometer"), OptimizerConfig(name="cma-es"), out)

The best design is the one with the lowest noisy objective; the best of many noisy values
is biased low, so ``best_objective`` is that design re-evaluated on ``reevaluate_events``
fresh events (seeds never used in the run), and ``baseline_objective`` is the baseline
re-evaluated the same way.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aihep import DEFAULT_SEED
from aihep.design.evaluator import Evaluator, RunRecord, reevaluate
from aihep.design.optimizers import OptimizerConfig, OptimizerName, optimize
from aihep.design.problem import Design, DesignProblem
from aihep.design.proposer import Proposer
from aihep.errors import ConfigError
from aihep.workflow.seeds import derive_seed

RECORD = "record.jsonl"
KIND = "aihep.design.run"


@dataclass(frozen=True)
class DesignRunResult:
    """Outcome of :func:`run_design` (objectives: lower is better)."""

    problem: str
    optimizer: str
    seed: int
    calls: int
    baseline_objective: float
    baseline_error: float
    best_objective: float
    best_error: float
    best_noisy_objective: float
    best_design: Design
    best_metrics: dict[str, float]  # re-evaluated, like best_objective
    baseline_metrics: dict[str, float]
    best_noisy_metrics: dict[str, float]
    invalid_fraction: float
    failures: int
    unusable_replies: int
    fallback_designs: int
    filled_repeats: int  # proposed designs already evaluated, replaced by random ones
    replayed_entries: int
    seconds: float
    simulator_seconds: float
    best_so_far: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return json.loads(json.dumps(out, default=float))


def run_design(problem: DesignProblem, config: OptimizerConfig, out: Path | None = None,
               propose: Proposer | None = None, reevaluate_events: int = 20_000,
               progress: Callable[[int, int, float], None] | None = None) -> DesignRunResult:
    """Optimize ``problem`` with ``config``; record to ``out/record.jsonl`` (resumes it).

    Args:
        problem: the design problem.
        config: optimizer, budget (simulator calls), seed and the optimizers' settings.
        out: run directory (record, result); None keeps nothing on disk.
        propose: the language-model backend for ``llm`` and ``llm+tr``.
        reevaluate_events: fresh events for the final estimate of the best and the baseline.
        progress: called with (calls, budget, best noisy objective) after every call.
    """
    start = time.perf_counter()
    record = RunRecord(out / RECORD if out is not None else None)
    evaluate = Evaluator(problem, config.seed, config.budget, config.name, record, progress)
    optimize(problem, evaluate, config, propose)
    best = evaluate.best()
    seed = derive_seed(config.seed, "final")
    best_mean, best_err, best_metrics = reevaluate(problem, best.design, reevaluate_events,
                                                   seed)
    base_mean, base_err, base_metrics = reevaluate(problem, problem.baseline,
                                                   reevaluate_events, seed)
    replies = _reply_counts(out / RECORD if out is not None else None)
    n = max(evaluate.calls, 1)
    return DesignRunResult(
        problem=problem.name, optimizer=config.name, seed=config.seed, calls=evaluate.calls,
        baseline_objective=base_mean, baseline_error=base_err, best_objective=best_mean,
        best_error=best_err, best_noisy_objective=best.objective, best_design=best.design,
        best_metrics=best_metrics, baseline_metrics=base_metrics,
        best_noisy_metrics=best.metrics,
        invalid_fraction=sum(e.projected for e in evaluate.history) / n,
        failures=sum(e.status != "ok" for e in evaluate.history),
        unusable_replies=replies[0], fallback_designs=sum(
            e.source.endswith("-fallback") for e in evaluate.history),
        filled_repeats=sum(e.source.endswith("-fill") for e in evaluate.history),
        replayed_entries=record.replayed_count,
        seconds=time.perf_counter() - start,
        simulator_seconds=sum(e.seconds for e in evaluate.history),
        best_so_far=[v if math.isfinite(v) else float("nan")
                     for v in evaluate.best_so_far()])


def _reply_counts(path: Path | None) -> tuple[int, int]:
    """(unusable, all) proposer replies in a record."""
    if path is None or not path.is_file():
        return 0, 0
    from aihep.workflow.provenance import read_entries

    replies = [e for e in read_entries(path) if e["tool"] == "propose"]
    return sum(not e["status"].startswith("ok") for e in replies), len(replies)


def run_design_dir(problem: str, out: Path, optimizer: OptimizerName = "random",
                   budget: int = 350, seed: int = DEFAULT_SEED,
                   problem_file: Path | None = None, reevaluate_events: int = 20_000,
                   force: bool = False, propose: Proposer | None = None,
                   progress: Callable[[int, int, float], None] | None = None,
                   reporter: Callable[[Path, list[dict[str, Any]], DesignProblem], Any]
                   | None = None) -> DesignRunResult:
    """Optimize a built-in ``problem`` (or the YAML ``problem_file``) into ``out``:
    ``record.jsonl`` (every evaluation; a re-run resumes by replaying it), ``result.json``,
    ``manifest.json`` and, with a ``reporter``, plots of the run.

    Args:
        problem: a built-in problem (``spectrometer``, ``calorimeter``), unless
            ``problem_file`` is given.
        out: the run directory.
        optimizer: one of :data:`~aihep.design.optimizers.OPTIMIZERS`.
        budget: simulator calls.
        seed: the run's seed (the optimizer's and every call's).
        reevaluate_events: fresh events for the final estimates of best and baseline.
    """
    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.design.problems import BUILT_IN, load_problem
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    if problem_file is None and problem not in BUILT_IN:  # a path goes in problem_file
        msg = (f"unknown problem {problem!r}: one of {', '.join(sorted(BUILT_IN))}, or a "
               "YAML file as problem_file")
        raise ConfigError(msg)
    spec = load_problem(problem_file if problem_file is not None else problem)
    config = OptimizerConfig(name=optimizer, budget=budget, seed=seed)
    claim_output_dir(out, KIND, force, allowed=(RECORD,))
    directory = ensure_writable_dir(out)
    result = run_design(spec, config, directory, propose, reevaluate_events, progress)
    result_file = write_json_atomic(directory / "result.json", result.to_dict())
    outputs = [result_file, directory / RECORD]
    if reporter is not None:
        outputs += [Path(p) for p in reporter(directory, [result.to_dict()], spec) or []]
    inputs = [file_entry(problem_file)] if problem_file is not None else []
    write_manifest(directory, build_manifest(
        KIND, config={"problem": spec.model_dump(mode="json", by_alias=True),
                      "optimizer": config.model_dump(mode="json"),
                      "reevaluate_events": reevaluate_events},
        seed=seed, inputs=inputs,
        outputs=[file_entry(p, directory) for p in outputs if p.is_file()],
        counts={"calls": result.calls, "failures": result.failures}))
    return result
