"""The built-in design problems (the benchmarks); users write their own in YAML.

``aihep design show spectrometer --yaml`` prints one as a starting point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aihep.design.problem import DesignProblem, built_in_objective_error, simulator
from aihep.errors import ConfigError, InputError

SPECTROMETER_SLOTS = 8
SPECTROMETER_GRANULARITY = [0, 64, 128, 192, 256, 320, 384, 512]


def spectrometer_spec() -> dict[str, Any]:
    """Benchmark B as a plain mapping (the same as its YAML form)."""
    k = SPECTROMETER_SLOTS
    parameters: list[dict[str, Any]] = []
    for i in range(1, k + 1):
        parameters.append({"kind": "continuous", "name": f"z{i}_m", "low": 0.5, "high": 10.0,
                           "unit": "m"})
    for i in range(1, k + 1):
        parameters.append({"kind": "discrete", "name": f"g{i}",
                           "choices": SPECTROMETER_GRANULARITY, "unit": "pixels across W"})
    baseline: dict[str, Any] = {f"z{i}_m": float(i) for i in range(1, k + 1)}
    baseline.update({f"g{i}": 256 for i in range(1, k + 1)})
    return {
        "name": "spectrometer",
        "description": "Magnetic spectrometer layout: up to 8 stations (z in m, granularity g "
                       "per station, 0 = no station) around a 1 T dipole between 3 and 6 m; "
                       "pixel budget sum g^2 <= 8 x 256^2. Objective: mean momentum "
                       "resolution at 10 and 100 GeV (%) plus the tracking inefficiency (%).",
        "parameters": parameters,
        "constraints": [
            {"kind": "ordering", "parameters": [f"z{i}_m" for i in range(1, k + 1)],
             "min_gap": 0.2},
            {"kind": "min_active", "parameters": [f"g{i}" for i in range(1, k + 1)],
             "count": 4},
            {"kind": "budget", "parameters": [f"g{i}" for i in range(1, k + 1)], "power": 2,
             "limit": k * 256**2},
        ],
        "objective": {"simulator": "spectrometer", "events": 300, "settings": {},
                      "weights": {"resolution_10_pct": 0.5, "resolution_100_pct": 0.5,
                                  "inefficiency_pct": 1.0}},
        "baseline": baseline,
    }


CALORIMETER_SLOTS = 16
CALORIMETER_THICKNESS_MM = [0, 1, 2, 3, 5, 8]


def calorimeter_spec() -> dict[str, Any]:
    """Benchmark A as a plain mapping (the same as its YAML form)."""
    k = CALORIMETER_SLOTS
    parameters: list[dict[str, Any]] = []
    for i in range(1, k + 1):
        parameters.append({"kind": "continuous", "name": f"z{i}_mm", "low": 0.0,
                           "high": 1480.0, "unit": "mm"})
    for i in range(1, k + 1):
        parameters.append({"kind": "discrete", "name": f"t{i}",
                           "choices": CALORIMETER_THICKNESS_MM, "unit": "mm scintillator"})
    baseline: dict[str, Any] = {f"z{i}_mm": 98.0 * (i - 1) for i in range(1, k + 1)}
    baseline.update({f"t{i}": 5 if i <= 8 else 0 for i in range(1, k + 1)})
    return {
        "name": "calorimeter",
        "description": "Sampling calorimeter segmentation: up to 16 scintillator layers (front "
                       "position z in mm, thickness 1-8 mm, 0 = no layer) in a 1.5 m iron "
                       "block; at most 40 mm of scintillator in total. Objective: mean-"
                       "corrected energy resolution (%), 0.2 x electrons + 0.8 x charged "
                       "pions, each the mean over 50 and 100 GeV.",
        "parameters": parameters,
        "constraints": [
            {"kind": "ordering", "parameters": [f"z{i}_mm" for i in range(1, k + 1)],
             "min_gap": 10.0},
            {"kind": "min_active", "parameters": [f"t{i}" for i in range(1, k + 1)],
             "count": 3},
            {"kind": "budget", "parameters": [f"t{i}" for i in range(1, k + 1)],
             "limit": 40},
        ],
        "objective": {"simulator": "calorimeter", "events": 10_000, "settings": {},
                      "reevaluate_settings": {"library": "test"},
                      "weights": {"resolution_electron_pct": 0.2,
                                  "resolution_pion_pct": 0.8}},
        "baseline": baseline,
    }


def calorimeter() -> DesignProblem:
    """Benchmark A: the sampling calorimeter (see :mod:`aihep.design.calorimeter`)."""
    return DesignProblem.model_validate(calorimeter_spec())


def spectrometer() -> DesignProblem:
    """Benchmark B: the magnetic spectrometer (see :mod:`aihep.design.spectrometer`)."""
    return DesignProblem.model_validate(spectrometer_spec())


BUILT_IN: dict[str, Callable[[], DesignProblem]] = {"spectrometer": spectrometer,
                                                     "calorimeter": calorimeter}


def load_problem(source: str | Path) -> DesignProblem:
    """A problem from a YAML file, or a built-in one by name (``spectrometer``, ...)."""
    if isinstance(source, str) and source in BUILT_IN:
        return BUILT_IN[source]()
    path = Path(source)
    if not path.is_file():
        raise InputError(path, "file", f"a problem YAML file or one of "
                         f"{sorted(BUILT_IN)}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise InputError(path, where, "valid YAML") from None
    if not isinstance(data, dict):
        raise InputError(path, "top level", "a mapping with name, parameters, constraints, "
                         "objective and baseline")
    try:
        problem = DesignProblem.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        text = first["msg"].removeprefix("Value error, ")
        field = ".".join(str(x) for x in first["loc"])
        if not field:  # a check across fields says which one
            field, _, text = text.partition(": ")
        raise InputError(path, field, text) from None
    try:  # a simulator that cannot run is bad input, found before anything is written
        simulator(problem.objective_spec.simulator)
    except ConfigError as error:
        raise InputError(path, "objective.simulator", "spectrometer, calorimeter, quadratic "
                         f"or an importable package.module:function; {error}") from None
    wrong = built_in_objective_error(problem.objective_spec)
    if wrong is not None:  # a setting or metric a built-in simulator does not know
        raise InputError(path, f"objective.{wrong[0]}", wrong[1])
    return problem
