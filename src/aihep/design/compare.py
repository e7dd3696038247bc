"""Comparison of optimization runs: per optimizer over seeds, paired tests against random
search, the gap to CMA-ES at 10x budget, the relative improvement over the baseline.

Statistics are pure functions over the runs' ``to_dict()`` rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aihep.errors import InputError

COMPARE_KIND = "aihep.design.compare"


@dataclass(frozen=True)
class OptimizerSummary:
    """One optimizer on one problem, over its seeds (objectives: lower is better)."""

    problem: str
    optimizer: str
    seeds: int
    calls: int
    best_median: float
    best_mean: float
    best_std: float
    baseline_median: float
    improvement_pct: float  # median of (1 - best / baseline) over seeds, in %
    vs_random_p: float | None  # one-sided Wilcoxon signed-rank, paired by seed
    vs_random_wins: str  # seeds where this optimizer's best is below random's
    gap_to_cma10x_pct: float | None  # median best / cma-es-10x median best - 1, in %
    invalid_fraction: float
    filled_fraction: float  # calls on random designs replacing repeated proposals
    seconds_median: float  # per run: ``cost_seconds`` when a row has it, else ``seconds``

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def paired_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """One-sided Wilcoxon signed-rank p-value that ``a`` is below ``b`` (paired), or None
    with fewer than 5 pairs (with 5 the smallest possible p is 1/32)."""
    from scipy.stats import wilcoxon

    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) < 5 or np.all(x == y):
        return None
    return float(wilcoxon(x, y, alternative="less").pvalue)


def summarize(rows: Sequence[dict[str, Any]]) -> list[OptimizerSummary]:
    """Per (problem, optimizer) summaries of run rows (``DesignRunResult.to_dict()``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["optimizer"]), []).append(r)
    out = []
    for (problem, name), runs in sorted(groups.items()):
        runs = sorted(runs, key=lambda r: r["seed"])
        best = np.array([r["best_objective"] for r in runs])
        base = np.array([r["baseline_objective"] for r in runs])
        random = {r["seed"]: r["best_objective"] for r in groups.get((problem, "random"), [])}
        paired = [(r["best_objective"], random[r["seed"]]) for r in runs if r["seed"] in random]
        p = (paired_test([x for x, _ in paired], [y for _, y in paired])
             if name != "random" else None)
        wins = (f"{sum(x < y for x, y in paired)}/{len(paired)}"
                if paired and name != "random" else "")
        cma10 = [r["best_objective"] for r in groups.get((problem, "cma-es-10x"), [])]
        out.append(OptimizerSummary(
            problem=problem, optimizer=name, seeds=len(runs),
            calls=int(np.median([r["calls"] for r in runs])),
            best_median=float(np.median(best)), best_mean=float(best.mean()),
            best_std=float(best.std(ddof=1)) if len(best) > 1 else float("nan"),
            baseline_median=float(np.median(base)),
            improvement_pct=float(100 * np.median(1 - best / base)),
            vs_random_p=p, vs_random_wins=wins,
            gap_to_cma10x_pct=(float(100 * (np.median(best) / np.median(cma10) - 1))
                               if cma10 else None),
            invalid_fraction=float(np.mean([r["invalid_fraction"] for r in runs])),
            filled_fraction=float(np.mean([r.get("filled_repeats", 0) / max(r["calls"], 1)
                                           for r in runs])),
            seconds_median=float(np.median([r.get("cost_seconds", r["seconds"]) for r in runs]))))
    return out


def read_runs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Run rows from ``result.json`` files or directories holding them (searched
    recursively), or from a benchmark JSON with ``rows``."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(Path(path).rglob("result.json")) if Path(path).is_dir() else [Path(path)]
        if not files:
            raise InputError(path, "result.json", "a design run directory (aihep design run)")
        for f in files:
            try:
                data = json.loads(f.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                raise InputError(f, "JSON", "a design run result") from None
            found = data.get("rows", [data]) if isinstance(data, dict) else None
            if not isinstance(found, list) or not all(
                    isinstance(r, dict) and {"problem", "optimizer", "seed", "best_objective",
                                             "baseline_objective"} <= set(r) for r in found):
                raise InputError(f, "problem/optimizer/seed/best_objective",
                                 "a design run result (aihep design run)")
            rows.extend(found)
    return rows


def compare_runs(runs: list[Path], out: Path | None = None,
                 reporter: Any = None, force: bool = False) -> dict[str, Any]:
    """Compare the optimizers of design runs (directories searched for result.json, or a
    benchmark JSON): medians over seeds, paired tests against random search, the gap to
    CMA-ES at 10x budget; with ``out`` (refused if it holds another command's results,
    unless ``force``), ``summary.json`` and a manifest there and, with a ``reporter``, a
    report with convergence plots."""
    from aihep.design.problems import BUILT_IN

    rows = read_runs(runs)
    summaries = [s.to_dict() for s in summarize(rows)]
    if out is not None:
        from aihep._atomic import ensure_writable_dir, write_json_atomic
        from aihep.workflow.manifest import (
            build_manifest,
            claim_output_dir,
            file_entry,
            write_manifest,
        )

        claim_output_dir(out, COMPARE_KIND, force)
        directory = ensure_writable_dir(out)
        written = [write_json_atomic(directory / "summary.json", {"summary": summaries})]
        if reporter is not None:
            problem = BUILT_IN[rows[0]["problem"]]() if rows[0]["problem"] in BUILT_IN \
                else None
            written += [Path(p) for p in reporter(directory, rows, problem, summaries) or []]
        sources = [f for r in runs for f in (sorted(Path(r).rglob("result.json"))
                                             if Path(r).is_dir() else [Path(r)])]
        write_manifest(directory, build_manifest(
            COMPARE_KIND, config={"runs": [str(r) for r in runs]}, seed=0,
            inputs=[file_entry(f) for f in sources],
            outputs=[file_entry(f, directory) for f in written], counts={"rows": len(rows)}))
    return {"summary": summaries}
