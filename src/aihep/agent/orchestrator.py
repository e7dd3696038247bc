"""The orchestrator: plan -> execute through the runner -> validate -> refine -> report.

Running it again on the directory of a crashed or interrupted run resumes it: the planner is
deterministic, and the runner answers the calls that completed from the record (outputs
unchanged) instead of repeating them; it plans from the memory the run first read (recorded),
so a finished run started again repeats its answer.

Memory (``memory.json`` in the run directory, or a shared file) keeps, per dataset hash,
which methods were tried and what came out; a later run on the same data reads it (the read
is recorded in the provenance record, so a replay sees what the run saw) and does not repeat
them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep.agent.playbook import PlaybookPlanner, ResonanceTask, Step
from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import ToolRunner
from aihep.agent.tools import ToolRegistry
from aihep.discovery.hunt import HuntConfig
from aihep.workflow.manifest import sha256_file


@dataclass(frozen=True)
class AgentResult:
    """The answer of an agent run and where its record is."""

    answer: dict[str, Any]
    steps: list[dict[str, Any]]
    head: str
    run_dir: Path


def validate_hunt(out: Path, n_events: int | None) -> tuple[list[str], list[str]]:
    """Checks of a hunt's outputs: (problems that invalidate it, warnings to report)."""
    problems, warnings = [], []
    results = out / "results.json"
    scores = out / "scores.csv"
    if not results.is_file() or not scores.is_file():
        return [f"missing outputs in {out}"], []
    summary = json.loads(results.read_text())
    lines = scores.read_text().splitlines()[1:]
    index = [int(line.split(",")[0]) for line in lines]
    if n_events is not None and len(index) != n_events:
        problems.append(f"scores.csv has {len(index)} rows for {n_events} events")
    if index != sorted(index):
        problems.append("scores.csv is not sorted by index")
    if summary.get("uncut_fit_pvalue", 1.0) < 1e-3:
        # a strong signal does this too, so it is a warning for the reader, not a veto
        warnings.append("the dijet function fits the uncut spectrum poorly (chi2 p < 1e-3): "
                        "a strong signal or a non-dijet-like spectrum; check the report")
    if summary.get("discovery") and "m_res" not in summary:
        problems.append("discovery without a resonance fit")
    return problems, warnings


def _memory(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _first_memory_read(run_dir: Path, memory_file: str,
                       data_hash: str) -> dict[str, Any] | None:
    """The first memory read of an existing record of ``run_dir`` for these data."""
    from aihep.agent.runner import RECORD
    from aihep.workflow.provenance import read_entries

    if not (run_dir / RECORD).is_file():
        return None
    for entry in read_entries(run_dir / RECORD):
        if entry["tool"] == "memory.read" and entry["arguments"] == {
                "path": memory_file, "data_sha256": data_hash}:
            return entry
    return None


def check_task_inputs(task: ResonanceTask) -> None:
    """:class:`InputError` for a task file that does not exist."""
    from aihep.errors import InputError

    for path in (task.data, task.reference, task.labels):
        if path is not None and not Path(path).is_file():
            raise InputError(path, "file", "an existing feature table")


def run_agent(task: ResonanceTask, run_dir: str | Path, policy: Policy | None = None,
              registry: ToolRegistry | None = None, planner: Any = None,
              memory_path: str | Path | None = None, max_rounds: int = 4,
              progress: Callable[[dict[str, Any]], None] | None = None) -> AgentResult:
    """Answer "is there a resonance in this dataset?" with recorded, validated tool calls.

    ``progress`` is called before each step with ``step`` (1, 2, ...), ``tool``,
    ``rationale``, ``methods`` and ``out`` (where a hunt writes), and after it with ``status``.
    """
    from aihep._atomic import write_json_atomic
    from aihep.errors import ConfigError

    check_task_inputs(task)
    run_dir = Path(run_dir)
    reads = tuple(Path(p) for p in (task.data, task.reference, task.labels) if p is not None)
    if policy is not None and Path(policy.run_dir).resolve() != run_dir.resolve():
        msg = (f"the run directory {run_dir} differs from the policy's run_dir "
               f"{policy.run_dir}: every file of a run goes to one directory; make them equal")
        raise ConfigError(msg)
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(run_dir, "aihep.agent", strict=False)  # not onto a dataset or a model
    policy = policy or Policy(read_paths=reads, run_dir=run_dir)
    runner = ToolRunner(registry or default_registry(), policy)
    planner = planner or PlaybookPlanner()
    actor = f"{planner.name}/{planner.version}"
    registry = runner.registry
    if hasattr(planner, "check"):  # model proposals are checked against the policy too
        planner.check = lambda tool, args: policy.check(
            registry.get(tool), registry.get(tool).validate(args), runner.calls)
    memory_file = Path(memory_path) if memory_path else run_dir / "memory.json"
    memory = _memory(memory_file)
    data_hash = sha256_file(task.data)
    first_read = _first_memory_read(run_dir, str(memory_file), data_hash)
    if first_read is None:
        remembered = [tuple(m) for m in memory.get(data_hash, {}).get("tried", [])]
        extra: dict[str, Any] = {"tried": [list(m) for m in remembered]}
    else:
        # a resumed run plans from the memory it first saw, not from what it wrote itself
        # when it finished: else running a finished run again starts new hunts and answers
        # from those alone
        remembered = [tuple(m) for m in first_read["extra"]["tried"]]
        extra = {"tried": [list(m) for m in remembered], "resumed_from_entry":
                 first_read["index"]}
    runner.note(actor, "memory.read", {"path": str(memory_file), "data_sha256": data_hash},
                extra)
    queue: list[Step] = planner.plan(task, run_dir, remembered)
    steps: list[dict[str, Any]] = []
    hunts: list[Any] = []
    n_events: int | None = None
    for _ in range(max_rounds * 2):
        if not queue:
            break
        step = queue.pop(0)
        config = step.arguments.get("config") if isinstance(step.arguments, dict) else None
        info = {"step": len(steps) + 1, "tool": step.tool, "rationale": step.rationale,
                "methods": list((config or {}).get("methods") or []) if isinstance(
                    config, dict) else [], "out": step.arguments.get("out")}
        if progress is not None:
            progress(info)
        result = runner.call(step.tool, step.arguments, actor)
        if progress is not None:
            progress({**info, "status": result.status})
        entry: dict[str, Any] = {"tool": step.tool, "rationale": step.rationale,
                                 "status": result.status,
                 "message": result.message, "reused": result.reused}
        if step.tool == "inspect_dataset" and result.status == "ok":
            n_events = result.output.get("n_events")
        if step.tool == "hunt" and result.status == "ok":
            out = Path(step.arguments["out"])
            problems, warnings = validate_hunt(out, n_events)
            entry.update(problems=problems, warnings=warnings,
                         p_value=result.output["p_value"],
                         discovery=result.output["discovery"])
            # the validated arguments: a model may leave the config (or its methods) unset
            config = getattr(registry.get("hunt").validate(step.arguments), "config", None)
            methods = list(config.methods) if config is not None else list(
                HuntConfig().methods)
            hunts.append({"methods": methods, "out": str(out),
                          **{k: result.output.get(k) for k in (
                              "p_value", "significance", "discovery", "m_res", "n_signal",
                              "daughter_masses", "significant", "no_claim_because",
                              "review")},
                          "problems": problems,
                          "signal_region_gev": result.output.get("best_trial", {}).get(
                              "signal_region_gev"),
                          "bump_window_gev": result.output.get("best_trial", {}).get(
                              "window_gev"),
                          "warnings": warnings})
        steps.append(entry)
        if not queue:  # the planner decides what follows (a model after every step)
            last = result.output if step.tool == "hunt" and result.status == "ok" else {
                "tool": step.tool, "status": result.status, "message": result.message,
                "output": result.output}
            queue += planner.refine(task, run_dir, last)
    tried = remembered + [tuple(h["methods"]) for h in hunts]
    memory.setdefault(data_hash, {})["tried"] = [list(m) for m in dict.fromkeys(tried)]
    known = {h["out"] for h in memory[data_hash].get("results", [])}
    memory[data_hash]["results"] = memory[data_hash].get("results", []) + [
        h for h in hunts if h["out"] not in known]  # a resumed run adds its hunts once
    write_json_atomic(memory_file, memory)
    best = min(hunts, key=lambda h: h["p_value"]) if hunts else None
    if best is not None:
        # every hunt on these data is a trial, this run's and remembered ones: Bonferroni
        # across hunts (each hunt's p already holds its own windows x methods)
        tries = len(hunts) + len(remembered)
        corrected = min(1.0, best["p_value"] * tries)
        best = {**best, "p_value_single_hunt": best["p_value"], "p_value": corrected,
                "hunts_counted": tries,
                "discovery": bool(best["discovery"] and corrected < 1e-3)}
    best = apply_llm_review(best, getattr(planner, "review", None))
    if best is not None and "llm_review" in best:
        runner.note(actor, "llm.review", {"hunt": best["out"]}, best["llm_review"])
    answer = {"question": "is there a resonance in this dataset?",
              "discovery": bool(best and best["discovery"] and not best["problems"]),
              "best": best, "hunts": len(hunts), "all_hunts": hunts,
              "remembered_methods": [list(m) for m in remembered]}
    if not hunts:
        # no completed hunt is no answer, not "no discovery"
        failed = [f"{s['tool']} {s['status']}: {s['message'].splitlines()[0][:200]}"
                  for s in steps if s["status"] != "ok" and s["message"]]
        answer.update(discovery=None, failed=True, reason="no hunt completed" + (
            " (" + "; ".join(failed[-3:]) + ")" if failed else ""))
    transcript = getattr(planner, "transcript", None)
    if transcript is not None:
        runner.note(actor, "planner.transcript", {}, {"transcript": transcript})
    report = write_json_atomic(run_dir / "agent_report.json", {"answer": answer,
                                                                "steps": steps})
    own = [report] + ([memory_file] if memory_file.resolve().parent == run_dir.resolve()
                      else [])  # a shared memory file changes with later runs
    runner.note(actor, "answer", {}, answer, outputs=own)
    return AgentResult(answer, steps, runner.record.head, run_dir)


def apply_llm_review(best: dict[str, Any] | None, reviewer: Any) -> dict[str, Any] | None:
    """``best`` after the LLM reviewer (a planner's ``review``; None without a model).

    The model sees only a claim that passed every deterministic check and the run's
    validation: it may add doubts and veto it, never rescue a failed check.
    """
    if best is None or reviewer is None or not best["discovery"] or best["problems"]:
        return best
    verdict = reviewer(best)
    best = {**best, "llm_review": verdict}
    if verdict["veto"]:
        best.update(discovery=False, no_claim_because=[
            f"LLM reviewer: {d}" for d in verdict["doubts"]] or ["LLM reviewer: veto"])
    return best


def record_outputs(run_dir: str | Path, policy: Policy, actor: str, files: list[Path]) -> str:
    """Append the files an orchestrator wrote after its run (answers, scores, report) to the
    run's record, hashed like tool outputs; returns the new head."""
    runner = ToolRunner(ToolRegistry(), policy)
    runner.note(actor, "outputs", {}, {"files": [str(f) for f in files]}, outputs=files)
    return runner.record.head
