"""Study playbooks: "train a fast-simulation surrogate for this calorimeter and tell me how
faithful it is" and "optimize this design under this budget", run as recorded tool calls.

Like the resonance playbook, a study is deterministic (no model), every step goes through
the :class:`~aihep.agent.runner.ToolRunner` (schema, policy, monitored job, hash-chained
provenance), the outputs are checked before the answer is written, and the run can be
verified (`aihep agent verify`) and replayed (`aihep replay`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.agent.playbook import Step
from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import ToolRunner


class FastSimStudy(BaseModel):
    """Train a surrogate on ``reference`` showers (CaloChallenge HDF5 of ``layout``) and
    measure its fidelity against held-out showers (``test``; simulated with the reference
    cascade Monte Carlo when not given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reference: Path
    test: Path | None = None
    layout: str = Field("coarse", description="preset name or a layout YAML file")
    surrogate: Literal["vae", "flow-matching", "caloflow"] = "vae"
    epochs: int = Field(30, ge=1)
    test_showers: int = Field(2000, ge=100)
    seed: int = DEFAULT_SEED


class DesignStudy(BaseModel):
    """Optimize a design problem (built-in name or YAML file) with several optimizers on
    the same budget of simulator calls and compare them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    problem: str = "spectrometer"
    problem_file: Path | None = None
    budget: int = Field(100, ge=4)
    optimizers: tuple[str, ...] = ("random", "cma-es")
    reevaluate_events: int = Field(2000, ge=100)
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class StudyResult:
    answer: dict[str, Any]
    steps: list[dict[str, Any]]
    head: str
    run_dir: Path


def _layout(name: str) -> Any:
    from aihep.fastsim.geometry import PRESETS, load_layout, preset

    return preset(name) if name in PRESETS else load_layout(name)


def fastsim_steps(task: FastSimStudy, run_dir: Path) -> list[Step]:
    layout = _layout(task.layout).model_dump(mode="json")
    steps = []
    test = task.test
    if test is None:
        test = run_dir / "heldout" / "showers.h5"
        steps.append(Step("calo_simulate", {
            "config": {"layout": layout, "n_showers": task.test_showers,
                       "seed": task.seed + 1000},
            "out": str(run_dir / "heldout")},
            "held-out showers from the reference Monte Carlo (another seed) to judge on"))
    steps += [
        Step("calo_train", {"reference": str(task.reference), "layout": layout,
                            "out": str(run_dir / "surrogate"),
                            "config": {"kind": task.surrogate, "seed": task.seed,
                                       "train": {"epochs": task.epochs, "batch_size": 256,
                                                 "learning_rate": 1e-3, "patience": 10,
                                                 "seed": task.seed}}},
             f"train the {task.surrogate} surrogate on the given showers"),
        Step("calo_generate", {"run": str(run_dir / "surrogate"),
                               "out": str(run_dir / "generated"),
                               "n_showers": task.test_showers, "seed": task.seed},
             "generate as many showers as the held-out set"),
        Step("calo_evaluate", {"reference": str(test),
                               "generated": str(run_dir / "generated" / "showers.h5"),
                               "layout": layout, "out": str(run_dir / "evaluation")},
             "CaloChallenge metrics: classifier AUCs, FPD, KPD, separation powers")]
    return steps


def design_steps(task: DesignStudy, run_dir: Path) -> list[Step]:
    steps = [Step("design_run", {"problem": task.problem, "out": str(run_dir / name),
                                 "optimizer": name, "budget": task.budget, "seed": task.seed,
                                 "problem_file": str(task.problem_file) if task.problem_file
                                 else None, "reevaluate_events": task.reevaluate_events},
                  f"{name} on {task.budget} simulator calls")
             for name in task.optimizers]
    steps.append(Step("design_compare", {"runs": [str(run_dir / n) for n in task.optimizers],
                                         "out": str(run_dir / "compare")},
                      "compare the optimizers on the same budget"))
    return steps


def _fastsim_answer(run_dir: Path, outputs: dict[str, Any]) -> tuple[dict[str, Any],
                                                                     list[str]]:
    problems = []
    evaluation = run_dir / "evaluation" / "evaluation.json"
    if not evaluation.is_file():
        return {}, ["no evaluation.json"]
    result = json.loads(evaluation.read_text())
    answer = {"question": "how faithful is the surrogate?",
              "surrogate": str(run_dir / "surrogate"),
              "classifier_low": result.get("classifier_low"),
              "classifier_high": result.get("classifier_high"),
              "fpd": result.get("fpd"), "kpd": result.get("kpd"),
              "n_reference": result.get("n_reference"),
              "n_generated": result.get("n_generated")}
    generated = outputs.get("calo_generate") or {}
    if generated and result.get("n_generated") not in (None, generated.get("showers")):
        problems.append("the evaluation did not read every generated shower")
    return answer, problems


def _design_answer(run_dir: Path, outputs: dict[str, Any]) -> tuple[dict[str, Any],
                                                                    list[str]]:
    summary = (outputs.get("design_compare") or {}).get("summary") or []
    runs = {k: v for k, v in outputs.items() if k.startswith("design_run:")}
    if not runs:
        return {}, ["no design run completed"]
    best_name, best = min(runs.items(), key=lambda kv: kv[1]["best_objective"])
    problems = [f"{name}: the best design is worse than the baseline"
                for name, r in runs.items()
                if r["best_objective"] > r["baseline_objective"] * 1.5]
    return {"question": "which design is best under this budget?",
            "best_optimizer": best_name.split(":", 1)[1],
            "best_objective": best["best_objective"],
            "baseline_objective": best["baseline_objective"],
            "best_design": best.get("best_design"), "summary": summary}, problems


def study_inputs(task: FastSimStudy | DesignStudy) -> tuple[Path, ...]:
    """The files a study reads; :class:`InputError` for one that does not exist."""
    from aihep.errors import InputError

    reads = tuple(Path(p) for p in (getattr(task, "reference", None),
                                    getattr(task, "test", None),
                                    getattr(task, "problem_file", None)) if p is not None)
    for path in reads:
        if not path.is_file():
            raise InputError(path, "file", "an existing input file")
    return reads


def run_study(task: FastSimStudy | DesignStudy, run_dir: str | Path,
              policy: Policy | None = None,
              progress: Callable[[dict[str, Any]], None] | None = None) -> StudyResult:
    """Run a study playbook with recorded tool calls; writes ``agent_report.json``."""
    from aihep._atomic import write_json_atomic
    from aihep.errors import ConfigError
    from aihep.workflow.manifest import claim_output_dir

    run_dir = Path(run_dir)
    reads = study_inputs(task)
    if policy is not None and Path(policy.run_dir).resolve() != run_dir.resolve():
        msg = (f"the run directory {run_dir} differs from the policy's run_dir "
               f"{policy.run_dir}: make them equal")
        raise ConfigError(msg)
    claim_output_dir(run_dir, "aihep.agent", strict=False)
    kind = "fastsim" if isinstance(task, FastSimStudy) else "design"
    plan = (fastsim_steps(task, run_dir) if isinstance(task, FastSimStudy)
            else design_steps(task, run_dir))
    registry = default_registry()
    # the default policy: these inputs, this run directory, the CPU time the plan's tools
    # declare (a policy given by the user is kept as it is)
    policy = policy or Policy(read_paths=reads, run_dir=run_dir, max_cpu_seconds_per_call=max(
        registry.get(step.tool).cpu_seconds for step in plan))
    runner = ToolRunner(registry, policy)
    actor = f"study-{kind}/1"
    runner.note(actor, "study.task", task.model_dump(mode="json"))
    steps: list[dict[str, Any]] = []
    outputs: dict[str, Any] = {}
    for number, step in enumerate(plan, 1):
        info = {"step": number, "tool": step.tool, "rationale": step.rationale,
                "out": step.arguments.get("out")}
        if progress is not None:
            progress(info)
        result = runner.call(step.tool, step.arguments, actor)
        if progress is not None:
            progress({**info, "status": result.status})
        steps.append({"tool": step.tool, "rationale": step.rationale,
                      "status": result.status, "message": result.message,
                      "reused": result.reused})
        key = step.tool if step.tool != "design_run" else \
            f"design_run:{step.arguments['optimizer']}"
        if result.status == "ok":
            outputs[key] = result.output
        elif step.tool != "design_run":
            break  # every later step needs this one's output
    answer, problems = (_fastsim_answer if kind == "fastsim" else _design_answer)(
        run_dir, outputs)
    failed = [f"{s['tool']} {s['status']}: {s['message'].splitlines()[0][:200]}"
              for s in steps if s["status"] != "ok" and s["message"]]
    answer = {**answer, "study": kind, "problems": problems, "failed": bool(failed) or
              not answer, "failures": failed}
    report = write_json_atomic(run_dir / "agent_report.json", {"answer": answer,
                                                                "steps": steps})
    runner.note(actor, "answer", {}, answer, outputs=[report])
    return StudyResult(answer, steps, runner.record.head, run_dir)
