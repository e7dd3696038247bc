"""File-level spectrum statistics: a bump hunt or CLs limits on the mjj column of a table.

Thin entry points over :func:`aihep.discovery.bump_hunt` and
:func:`aihep.discovery.limits.resonance_limits` for the CLI and the agent: read a feature
table (Parquet or LHCO CSV), optionally keep the rows whose score passes a threshold, run the
statistic, write ``result.json`` atomically into ``out`` and return it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

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


def _write(out: Path, result: dict[str, Any]) -> dict[str, Any]:
    from aihep.io.atomic import ensure_writable_dir, write_json_atomic

    directory = ensure_writable_dir(out)
    write_json_atomic(directory / "result.json", result)
    return result


def bump_hunt_table(data: Path, out: Path, column: str = "mjj", n_toys: int = 200,
                    seed: int = 0) -> dict[str, Any]:
    """Bump hunt (dijet fit, window scan, toy-based global p-value) of a table's mjj column."""
    from aihep.discovery.bumphunt import bump_hunt

    result = bump_hunt(_mjj(data, column), n_toys=n_toys, seed=seed, source=str(data))
    return _write(out, {"data": str(data), **result.to_dict()})


def limits_table(data: Path, out: Path, masses_gev: list[float], column: str = "mjj",
                 relative_width: float = 0.05,
                 shape: Literal["gaussian", "crystal-ball"] = "gaussian",
                 cl: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """95% CLs upper limits on a resonance yield (events) at each mass (GeV), via pyhf."""
    from aihep.discovery.bumphunt import default_edges
    from aihep.discovery.limits import resonance_limits

    mjj = _mjj(data, column)
    limits = resonance_limits(mjj, default_edges(mjj), masses_gev, relative_width, shape,
                              cl, seed)
    return _write(out, {"data": str(data), "limits": [lim.to_dict() for lim in limits]})
