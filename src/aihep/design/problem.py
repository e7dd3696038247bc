"""Design problems as typed objects: parameters, hard constraints, a projection, an objective.

A problem is a pydantic model, loadable from YAML so users add their own::

    problem = load_problem("my_spectrometer.yaml")
    design = problem.project({"z1_m": 3.0, "g1": 200, ...})   # always feasible
    value = problem.objective(design, seed=1)                   # lower is better

Parameters are continuous (bounds, a unit) or discrete (a list of choices; ``0`` or
``"off"`` switches a layer or station off). Constraints are budgets (sum of a power of some
parameters <= a limit), orderings (positions increasing with a minimum gap) and a minimum
number of active elements. :meth:`DesignProblem.project` maps any design onto the feasible
set deterministically.

Optimizers that work on vectors (CMA-ES, BOBYQA, PPO) see every parameter relaxed to
[0, 1]: continuous ones scaled linearly within their bounds, discrete ones as the choice
index divided by (number of choices - 1), **rounded** to the nearest choice when decoded;
the decoded design is then projected.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aihep.errors import ConfigError

Value = float | int | str
Design = dict[str, Value]


class Continuous(BaseModel):
    """A continuous parameter within ``[low, high]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["continuous"] = "continuous"
    name: str
    low: float
    high: float
    unit: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> Continuous:
        if not self.low < self.high:
            msg = f"parameter {self.name}: low must be below high"
            raise ValueError(msg)
        return self


class Discrete(BaseModel):
    """A discrete parameter taking one of ``choices`` (``0`` or ``"off"`` = absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["discrete"] = "discrete"
    name: str
    choices: list[Value] = Field(min_length=1)
    unit: str = ""

    def numeric(self, value: Value) -> float:
        """The value as a number (``"off"`` counts as 0)."""
        return 0.0 if value == "off" else float(value)


Parameter = Annotated[Continuous | Discrete, Field(discriminator="kind")]


class Budget(BaseModel):
    """``sum(value ** power for parameters) <= limit`` (e.g. pixels: sum g^2, cost: sum t)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["budget"] = "budget"
    parameters: list[str] = Field(min_length=1)
    power: float = 1.0
    limit: float


class Ordering(BaseModel):
    """``parameters`` strictly increasing with at least ``min_gap`` between neighbours."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["ordering"] = "ordering"
    parameters: list[str] = Field(min_length=2)
    min_gap: float = Field(0.0, ge=0)


class MinActive(BaseModel):
    """At least ``count`` of the discrete ``parameters`` are not off (non-zero)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["min_active"] = "min_active"
    parameters: list[str] = Field(min_length=1)
    count: int = Field(ge=1)


Constraint = Annotated[Budget | Ordering | MinActive, Field(discriminator="kind")]


class Objective(BaseModel):
    """How a design becomes one number: a simulator and a weighted sum of its metrics.

    ``simulator`` is a built-in name (``spectrometer``, ``calorimeter``) or an import path
    ``package.module:function`` taking ``(design, seed, events, **settings)`` and returning
    a dict of metrics. The objective is ``sum(weights[m] * metrics[m])``; lower is better.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    simulator: str
    settings: dict[str, Any] = Field(default_factory=dict)
    events: int = Field(500, ge=1, description="events per evaluation")
    weights: dict[str, float] = Field(min_length=1)
    reevaluate_settings: dict[str, Any] = Field(
        default_factory=dict, description="settings changed for the final re-evaluation "
        "(e.g. an independent shower library)")


class DesignProblem(BaseModel):
    """A design problem: parameters, constraints, objective and the baseline design."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    parameters: list[Parameter] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    objective_spec: Objective = Field(alias="objective")
    baseline: dict[str, Value]

    @model_validator(mode="after")
    def _consistent(self) -> DesignProblem:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            msg = "parameters: unique names"
            raise ValueError(msg)
        for c in self.constraints:
            missing = [n for n in c.parameters if n not in names]
            if missing:
                msg = f"constraints: {c.kind} over existing parameters (unknown: {missing})"
                raise ValueError(msg)
            if isinstance(c, MinActive) and any(
                    not isinstance(self.param(n), Discrete) for n in c.parameters):
                msg = "constraints: min_active over discrete parameters"
                raise ValueError(msg)
            if isinstance(c, Ordering) and any(
                    not isinstance(self.param(n), Continuous) for n in c.parameters):
                msg = "constraints: ordering over continuous parameters"
                raise ValueError(msg)
        if set(self.baseline) != set(names):
            msg = (f"baseline: every parameter exactly once "
                   f"(missing {sorted(set(names) - set(self.baseline))}, "
                   f"unknown {sorted(set(self.baseline) - set(names))})")
            raise ValueError(msg)
        lowest = self.project(self.lowest_design())
        problems = self.violations(lowest)
        if problems:
            msg = f"constraints: a feasible set (no design satisfies them: {problems[0]})"
            raise ValueError(msg)
        problems = self.violations(self.baseline)
        if problems:
            msg = f"baseline: a feasible design ({problems[0]})"
            raise ValueError(msg)
        return self

    # -- parameters -------------------------------------------------------------------
    def param(self, name: str) -> Continuous | Discrete:
        """The parameter called ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        msg = f"no parameter {name!r}"
        raise KeyError(msg)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def continuous_names(self) -> list[str]:
        return [p.name for p in self.parameters if isinstance(p, Continuous)]

    def lowest_design(self) -> Design:
        """Every parameter at its lower bound or smallest choice."""
        out: Design = {}
        for p in self.parameters:
            if isinstance(p, Continuous):
                out[p.name] = p.low
            else:
                out[p.name] = min(p.choices, key=p.numeric)
        return out

    # -- feasibility -------------------------------------------------------------------
    def violations(self, design: Mapping[str, Value]) -> list[str]:
        """Human-readable list of what makes ``design`` infeasible (empty: feasible)."""
        out = []
        for p in self.parameters:
            if p.name not in design:
                out.append(f"{p.name} is missing")
                continue
            v = design[p.name]
            if isinstance(p, Continuous):
                if not isinstance(v, (int, float)) or not p.low - 1e-9 <= float(v) <= p.high + 1e-9:
                    out.append(f"{p.name} = {v} outside [{p.low}, {p.high}]")
            elif v not in p.choices:
                out.append(f"{p.name} = {v} is not one of {p.choices}")
        if out:
            return out
        for c in self.constraints:
            if isinstance(c, Budget):
                used = self._budget_used(c, design)
                if used > c.limit * (1 + 1e-9):
                    out.append(f"budget over {c.parameters}: {used:g} > {c.limit:g}")
            elif isinstance(c, Ordering):
                values = [float(design[n]) for n in c.parameters]
                for a, b, na, nb in zip(values, values[1:], c.parameters, c.parameters[1:],
                                        strict=False):
                    if b - a < c.min_gap - 1e-9:
                        out.append(f"{nb} must exceed {na} by {c.min_gap:g}")
            else:
                active = sum(self._active(n, design[n]) for n in c.parameters)
                if active < c.count:
                    out.append(f"{active} of {c.parameters} active, need {c.count}")
        return out

    def is_feasible(self, design: Mapping[str, Value]) -> bool:
        return not self.violations(design)

    def _budget_used(self, c: Budget, design: Mapping[str, Value]) -> float:
        return sum(abs(self._numeric(n, design[n])) ** c.power for n in c.parameters)

    def _numeric(self, name: str, value: Value) -> float:
        p = self.param(name)
        return p.numeric(value) if isinstance(p, Discrete) else float(value)

    def _active(self, name: str, value: Value) -> bool:
        return self._numeric(name, value) != 0.0

    # -- projection --------------------------------------------------------------------
    def project(self, design: Mapping[str, Any]) -> Design:
        """The feasible design nearest in spirit to ``design``, deterministically.

        Steps: missing or non-numeric values take the baseline's; continuous values are
        clipped to their bounds; discrete values snap to the nearest choice; ordered
        positions are sorted, then their gaps enforced by a forward and a backward sweep;
        too few active elements switch on the smallest non-zero choice (first slots first);
        an exceeded budget lowers, one step at a time, the parameter that contributes most
        (continuous ones are scaled down together). The steps repeat until every
        constraint holds (at most 100 times; then the baseline is returned).
        """
        out: Design = {}
        for p in self.parameters:
            raw = design.get(p.name, self.baseline.get(p.name)) if isinstance(
                design, Mapping) else None
            out[p.name] = self._snap(p, raw, self.baseline[p.name])
        for _ in range(100):  # budgets on ordered positions interact: alternate
            for c in self.constraints:
                if isinstance(c, Ordering):
                    self._order(c, out)
            for c in self.constraints:
                if isinstance(c, MinActive):
                    self._activate(c, out)
            for c in self.constraints:
                if isinstance(c, Budget):
                    self._fit_budget(c, out)
            if not self.violations(out):
                return out
        return dict(self.baseline)  # not reached on the built-in problems; always feasible

    @staticmethod
    def _snap(p: Continuous | Discrete, raw: Any, fallback: Value) -> Value:
        if isinstance(p, Continuous):
            try:
                x = float(raw)
            except (TypeError, ValueError):
                x = float(fallback)
            if not math.isfinite(x):
                x = float(fallback)
            return float(min(max(x, p.low), p.high))
        if raw in p.choices:
            return raw
        try:
            x = 0.0 if raw == "off" else float(raw)
        except (TypeError, ValueError):
            return fallback
        if not math.isfinite(x):
            return fallback
        return min(p.choices, key=lambda c: (abs(p.numeric(c) - x), p.choices.index(c)))

    def _order(self, c: Ordering, out: Design) -> None:
        params = [self.param(n) for n in c.parameters]
        assert all(isinstance(p, Continuous) for p in params)  # checked when the problem loads
        bounds = [(p.low, p.high) for p in params if isinstance(p, Continuous)]
        x = sorted(float(out[n]) for n in c.parameters)
        tol = 1e-9  # the tolerance of :meth:`violations`: feasible designs stay untouched
        for i in range(1, len(x)):
            if x[i] < x[i - 1] + c.min_gap - tol:
                x[i] = x[i - 1] + c.min_gap
            x[i] = min(x[i], bounds[i][1])
        for i in range(len(x) - 2, -1, -1):
            if x[i] > x[i + 1] - c.min_gap + tol:
                x[i] = x[i + 1] - c.min_gap
            x[i] = max(x[i], bounds[i][0])
        for n, v in zip(c.parameters, x, strict=True):
            out[n] = float(v)

    def _activate(self, c: MinActive, out: Design) -> None:
        off = [n for n in c.parameters if not self._active(n, out[n])]
        need = c.count - (len(c.parameters) - len(off))
        for n in off[:max(need, 0)]:
            p = self.param(n)
            assert isinstance(p, Discrete)
            on = [v for v in p.choices if p.numeric(v) != 0.0]
            out[n] = min(on, key=p.numeric)

    def _fit_budget(self, c: Budget, out: Design) -> None:
        floors = [m for m in self.constraints if isinstance(m, MinActive)]
        for _ in range(10_000):
            if self._budget_used(c, out) <= c.limit * (1 + 1e-9):
                return
            best, best_cost, best_value = None, -1.0, None
            for n in c.parameters:
                p = self.param(n)
                cost = abs(self._numeric(n, out[n])) ** c.power
                if isinstance(p, Continuous):
                    continue
                lower = sorted((v for v in p.choices
                                if p.numeric(v) < self._numeric(n, out[n])), key=p.numeric)
                if not lower:
                    continue
                step = lower[-1]
                if p.numeric(step) == 0.0 and any(
                        n in m.parameters and sum(self._active(k, out[k]) for k in m.parameters)
                        <= m.count for m in floors):
                    nonzero = [v for v in lower if p.numeric(v) != 0.0]
                    if not nonzero:
                        continue
                    step = nonzero[-1]
                if cost > best_cost:
                    best, best_cost, best_value = n, cost, step
            continuous = [n for n in c.parameters if isinstance(self.param(n), Continuous)]
            if best is None and not continuous:
                return
            if best is not None and best_value is not None:
                out[best] = best_value
                continue
            excess = self._budget_used(c, out) / c.limit
            for n in continuous:
                p = self.param(n)
                assert isinstance(p, Continuous)
                out[n] = float(max(float(out[n]) / excess ** (1 / c.power), p.low))
            if excess <= 1 + 1e-12 or all(float(out[n]) <= self.param(n).low  # type: ignore[union-attr]
                                          for n in continuous):
                return

    # -- vector encoding ---------------------------------------------------------------
    @property
    def dimension(self) -> int:
        return len(self.parameters)

    def encode(self, design: Mapping[str, Value]) -> np.ndarray:
        """A design as a vector in [0, 1]^d (discrete: choice index / (choices - 1))."""
        u = np.empty(self.dimension)
        for i, p in enumerate(self.parameters):
            if isinstance(p, Continuous):
                u[i] = (float(design[p.name]) - p.low) / (p.high - p.low)
            else:
                n = len(p.choices)
                u[i] = p.choices.index(design[p.name]) / (n - 1) if n > 1 else 0.5
        return u

    def decode(self, u: np.ndarray) -> Design:
        """The projected design of a vector (clipped to [0, 1], discrete indices rounded)."""
        u = np.clip(np.nan_to_num(np.asarray(u, dtype=float), nan=0.5), 0.0, 1.0)
        out: Design = {}
        for i, p in enumerate(self.parameters):
            if isinstance(p, Continuous):
                out[p.name] = p.low + float(u[i]) * (p.high - p.low)
            else:
                out[p.name] = p.choices[round(float(u[i]) * (len(p.choices) - 1))]
        return self.project(out)

    def random_design(self, rng: np.random.Generator) -> Design:
        """A uniformly drawn (then projected) design."""
        return self.decode(rng.random(self.dimension))

    # -- objective ---------------------------------------------------------------------
    def simulate(self, design: Mapping[str, Value], seed: int, events: int | None = None,
                 reevaluation: bool = False) -> dict[str, float]:
        """The simulator's metrics for a (feasible) design (``reevaluation``: with the
        objective's ``reevaluate_settings``)."""
        function = simulator(self.objective_spec.simulator)
        settings = dict(self.objective_spec.settings)
        if reevaluation:
            settings.update(self.objective_spec.reevaluate_settings)
        return function(dict(design), seed=seed,
                        events=events or self.objective_spec.events, **settings)

    def combine(self, metrics: Mapping[str, float]) -> float:
        """The weighted sum of the metrics named in the objective (lower is better)."""
        try:
            return float(sum(w * float(metrics[m])
                             for m, w in self.objective_spec.weights.items()))
        except KeyError as error:
            msg = (f"the simulator returned no metric {error.args[0]!r} "
                   f"(it returned {sorted(metrics)})")
            raise ConfigError(msg) from None

    def objective(self, design: Mapping[str, Value], seed: int, events: int | None = None,
                  reevaluation: bool = False) -> float:
        """One noisy evaluation of the objective."""
        return self.combine(self.simulate(design, seed, events, reevaluation))


SimulatorFn = Callable[..., dict[str, float]]
BUILT_IN_SIMULATORS = ("spectrometer", "calorimeter", "quadratic")  # else package.module:fn


def simulator(name: str) -> SimulatorFn:
    """A built-in simulator by name, or a user function by ``package.module:function``."""
    if name == "spectrometer":
        from aihep.design.spectrometer import simulate_design

        return simulate_design
    if name == "calorimeter":
        from aihep.design.calorimeter import simulate_design as calorimeter

        return calorimeter
    if name == "quadratic":
        from aihep.design.analytic import quadratic

        return quadratic
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            function = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError) as error:
            msg = (f"simulator {name!r} cannot be imported ({type(error).__name__}: "
                   f"{error})")
            raise ConfigError(msg) from None
        if not callable(function):
            msg = f"simulator {name!r} is not a function (a {type(function).__name__})"
            raise ConfigError(msg)
        return function
    msg = (f"unknown simulator {name!r}: spectrometer, calorimeter, quadratic or "
           "package.module:function")
    raise ConfigError(msg)


def built_in_objective_error(objective: Objective) -> tuple[str, str] | None:
    """The first thing a built-in simulator cannot do with this objective, as ``(field,
    expected)``: a setting it does not take (in ``settings`` or ``reevaluate_settings``) or a
    weighted metric it does not return. None when all is well, and for user simulators
    (their settings and metrics show when they run)."""
    name = objective.simulator
    merged = {**objective.settings, **objective.reevaluate_settings}
    fields = (("settings", objective.settings), ("reevaluate_settings", merged))
    if name == "quadratic":
        from aihep.design.analytic import quadratic

        takes = sorted(set(inspect.signature(quadratic).parameters)
                       - {"design", "seed", "events"})
        for field, given in fields:
            unknown = sorted(set(given) - set(takes))
            if unknown:
                return f"{field}.{unknown[0]}", f"a setting of the quadratic simulator {takes}"
        names = [["distance"]]
    elif name in ("spectrometer", "calorimeter"):
        from aihep.design import calorimeter, spectrometer

        settings_type: type[BaseModel]
        metric_names: Callable[[Any], list[str]]
        if name == "spectrometer":
            settings_type = spectrometer.SpectrometerSettings
            metric_names = spectrometer.metric_names
        else:
            settings_type = calorimeter.CalorimeterSettings
            metric_names = calorimeter.metric_names
        names = []
        for field, given in fields:
            try:
                resolved: Any = settings_type(**given)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                if first["type"] == "extra_forbidden":
                    return (f"{field}.{where}", f"a setting of the {name} simulator "
                            f"{sorted(settings_type.model_fields)}")
                return f"{field}.{where}", first["msg"].removeprefix("Input should be ")
            names.append(metric_names(resolved))
    else:
        return None
    for returned in names:
        missing = sorted(set(objective.weights) - set(returned))
        if missing:
            return (f"weights.{missing[0]}",
                    f"a metric the {name} simulator returns ({', '.join(returned)})")
    return None
