"""File-level spectrum statistics: a bump hunt or CLs limits on the mjj column of a table.

Thin entry points over :func:`aihep.discovery.bump_hunt` and
:func:`aihep.discovery.limits.resonance_limits` for the CLI and the agent: read a feature
table (Parquet or LHCO CSV), optionally keep the rows whose score passes a threshold, run the
statistic, write ``result.json`` atomically into ``out`` and return the frozen result
(``to_dict()``: what ``result.json`` holds besides the input paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aihep import DEFAULT_SEED
from aihep.discovery.bumphunt import BumpHuntResult
from aihep.discovery.extraction import SignalExtraction
from aihep.discovery.limits import UpperLimit
from aihep.errors import InputError


def _mjj(data: Path, column: str) -> np.ndarray:
    from aihep.discovery.hunt import read_table

    table = read_table(data)
    if column not in table:
        raise InputError(data, column, f"a column '{column}' of dijet masses in GeV")
    mjj = np.asarray(table[column], float)
    if not np.all(np.isfinite(mjj)):
        raise InputError(data, column, "finite dijet masses (found NaN or inf)")
    return mjj


def _write(out: Path, result: dict[str, Any]) -> None:
    from aihep._atomic import ensure_writable_dir, write_json_atomic

    directory = ensure_writable_dir(out)
    write_json_atomic(directory / "result.json", result)


@dataclass(frozen=True)
class LimitScan:
    """Upper limits at each tested mass."""

    limits: tuple[UpperLimit, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"limits": [lim.to_dict() for lim in self.limits]}


def bump_hunt_table(data: Path, out: Path, column: str = "mjj", n_toys: int = 200,
                    seed: int = DEFAULT_SEED) -> BumpHuntResult:
    """Bump hunt (dijet fit, window scan, toy-based global p-value) of a table's mjj column."""
    from aihep.discovery.bumphunt import bump_hunt

    result = bump_hunt(_mjj(data, column), n_toys=n_toys, seed=seed, source=str(data))
    _write(out, {"data": str(data), **result.to_dict()})
    return result


def limits_table(data: Path, out: Path, masses_gev: list[float], column: str = "mjj",
                 relative_width: float = 0.05,
                 shape: Literal["gaussian", "crystal-ball"] = "gaussian",
                 cl: float = 0.95, seed: int = DEFAULT_SEED) -> LimitScan:
    """95% CLs upper limits on a resonance yield (events) at each mass (GeV), via pyhf."""
    from aihep.discovery.bumphunt import default_edges
    from aihep.discovery.limits import resonance_limits

    mjj = _mjj(data, column)
    scan = LimitScan(tuple(resonance_limits(mjj, default_edges(mjj), masses_gev,
                                            relative_width, shape, cl, seed)))
    _write(out, {"data": str(data), **scan.to_dict()})
    return scan


def _scores_by_index(scores: Path, index: np.ndarray) -> np.ndarray:
    """Scores of a ``index,score`` CSV, in the order of ``index``."""
    try:
        table = np.loadtxt(scores, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise InputError(scores, "file", f"an index,score CSV ({exc})") from None
    if table.shape[1] != 2:
        raise InputError(scores, "columns", "two columns: index,score")
    order = np.argsort(table[:, 0], kind="stable")
    keys = table[order, 0].astype(np.int64)
    where = np.searchsorted(keys, index)
    if len(keys) != len(index) or np.any(where >= len(keys)) or not np.array_equal(
            keys[np.minimum(where, len(keys) - 1)], index):
        raise InputError(scores, "index", "one score per event of the data table")
    return table[order, 1][where]


def _enriched_mass(mjj: np.ndarray, selected: np.ndarray, edges: np.ndarray) -> float:
    """Centre of the bin where the cut keeps the largest fraction (>= 5 selected events)."""
    kept, _ = np.histogram(mjj[selected], edges)
    total, _ = np.histogram(mjj, edges)
    ratio = np.where(kept >= 5, kept / np.maximum(total, 1), -1.0)
    i = int(np.argmax(ratio))
    return float(0.5 * (edges[i] + edges[i + 1]))


def extract_signal_table(data: Path, out: Path, scores: Path, keep_fraction: float = 0.01,
                         mass_start_gev: float | None = None,
                         shape: Literal["gaussian", "crystal-ball"] = "gaussian",
                         column: str = "mjj") -> SignalExtraction:
    """Resonance mass, width (GeV) and signal yield (events) from a table and its scores.

    The events whose score is in the top ``keep_fraction`` are fitted with signal +
    dijet background (mass and width); the yield before the cut comes from a fit of the
    uncut spectrum with mass and width constrained by the first fit.
    """
    from aihep.discovery.bumphunt import default_edges
    from aihep.discovery.extraction import extract_signal
    from aihep.discovery.hunt import read_table

    if not 0 < keep_fraction <= 1:
        raise InputError("keep_fraction", "value", f"a fraction in (0, 1], got {keep_fraction}")
    table = read_table(data)
    mjj = _mjj(data, column)
    index = np.asarray(table.get("index", np.arange(len(mjj))), np.int64)
    score = _scores_by_index(scores, index)
    selected = score >= np.quantile(score, 1 - keep_fraction)
    edges = default_edges(mjj)
    start = mass_start_gev if mass_start_gev is not None else _enriched_mass(
        mjj, selected, edges)
    result = extract_signal(mjj, selected, edges, start, shape=shape)
    _write(out, {"data": str(data), "scores": str(scores), "keep_fraction": keep_fraction,
                 "n_selected": int(selected.sum()), **result.to_dict()})
    return result
