"""Design problems: projection, encoding, YAML loading and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aihep.design.problem import DesignProblem
from aihep.design.problems import load_problem, spectrometer_spec
from aihep.errors import InputError

SPECTROMETER = load_problem("spectrometer")


def toy_spec() -> dict:
    return {"name": "toy",
            "parameters": [{"kind": "continuous", "name": f"t{i}", "low": 0.0, "high": 10.0}
                           for i in range(3)]
            + [{"kind": "discrete", "name": f"k{i}", "choices": ["off", 1, 2, 4]}
               for i in range(3)],
            "constraints": [{"kind": "ordering", "parameters": ["t0", "t1", "t2"],
                             "min_gap": 2.0},
                            {"kind": "min_active", "parameters": ["k0", "k1", "k2"],
                             "count": 2},
                            {"kind": "budget", "parameters": ["k0", "k1", "k2"], "limit": 5},
                            {"kind": "budget", "parameters": ["t0", "t1"], "limit": 12}],
            "objective": {"simulator": "quadratic", "weights": {"distance": 1.0}},
            "baseline": {"t0": 1.0, "t1": 4.0, "t2": 7.0, "k0": 1, "k1": 2, "k2": "off"}}


TOY = DesignProblem.model_validate(toy_spec())
anything = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-100, 100),
                     st.sampled_from(["off", "x", None, 0]))


@pytest.mark.parametrize("problem", [SPECTROMETER, TOY], ids=["spectrometer", "toy"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_projection_is_always_feasible_and_idempotent(problem, data):
    design = {n: data.draw(anything) for n in problem.names
              if data.draw(st.booleans()) or True}
    projected = problem.project(design)
    assert problem.violations(projected) == []
    assert problem.project(projected) == projected


@pytest.mark.parametrize("problem", [SPECTROMETER, TOY], ids=["spectrometer", "toy"])
def test_random_designs_feasible_and_encoding_round_trips(problem):
    rng = np.random.default_rng(4)
    for _ in range(50):
        design = problem.random_design(rng)
        assert problem.is_feasible(design)
        assert problem.decode(problem.encode(design)) == pytest.approx(design)


def test_projection_repairs_each_constraint():
    fixed = TOY.project({"t0": 9.0, "t1": 1.0, "t2": 1.5, "k0": 4, "k1": 4, "k2": "off"})
    assert fixed["t1"] - fixed["t0"] >= 2.0 - 1e-9 and fixed["t2"] - fixed["t1"] >= 2.0 - 1e-9
    assert fixed["t0"] + fixed["t1"] <= 12 + 1e-9
    ks = [0 if fixed[k] == "off" else fixed[k] for k in ("k0", "k1", "k2")]
    assert sum(ks) <= 5 and sum(k > 0 for k in ks) >= 2
    # an unbroken design is left alone
    assert TOY.project(TOY.baseline) == TOY.baseline


def test_spectrometer_budget_lowers_the_largest_station():
    design = dict(SPECTROMETER.baseline)
    design["g8"] = 512  # over the pixel budget by 512^2 - 256^2
    projected = SPECTROMETER.project(design)
    assert sum(projected[f"g{i}"] ** 2 for i in range(1, 9)) <= 8 * 256**2
    assert projected["g8"] < 512


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spectrometer_spec()))
    assert load_problem(path) == SPECTROMETER


@pytest.mark.parametrize(("edit", "field"), [
    (lambda s: s["baseline"].update(g1=512, g2=512, g3=512), "baseline"),
    (lambda s: s["baseline"].pop("z1_m"), "baseline"),
    (lambda s: s["parameters"][0].update(low=20.0), "parameters.0"),
    (lambda s: s["constraints"].append({"kind": "budget", "parameters": ["nope"], "limit": 1}),
     "constraints"),
    (lambda s: s["constraints"][2].update(limit=10.0), "no design satisfies"),
    (lambda s: s.pop("objective"), "objective"),
    (lambda s: s["objective"].update(simulator="no_such_module:simulate"),
     "objective.simulator: expected spectrometer, calorimeter, quadratic or an importable"),
    (lambda s: s["objective"].update(simulator="math:pi"), "is not a function (a float)"),
    (lambda s: s["objective"].update(simulator="math:no_such_function"), "AttributeError"),
    (lambda s: s["objective"].update(simulator="geant4"), "unknown simulator 'geant4'"),
    # a built-in simulator's settings and metrics are checked before anything runs
    (lambda s: s["objective"]["settings"].update(bogus=3),
     "objective.settings.bogus: expected a setting of the spectrometer simulator"),
    (lambda s: s["objective"].update(reevaluate_settings={"momenta_gev": "abc"}),
     "objective.reevaluate_settings.momenta_gev: expected a valid tuple"),
    (lambda s: s["objective"]["weights"].update(resolution_1000_pct=1.0),
     "objective.weights.resolution_1000_pct: expected a metric the spectrometer simulator"),
    (lambda s: s["objective"]["settings"].update(momenta_gev=[5.0, 50.0]),
     "objective.weights.resolution_100_pct"),  # the weighted metric is now resolution_50_pct
    (lambda s: s["objective"].update(simulator="quadratic", settings={"optimum": {},
                                                                      "width": 2}),
     "objective.settings.width: expected a setting of the quadratic simulator"),
    (lambda s: s["objective"].update(simulator="calorimeter"),
     "objective.weights.inefficiency_pct: expected a metric the calorimeter simulator"),
])
def test_bad_problem_yaml_names_file_and_field(tmp_path, edit, field):
    spec = spectrometer_spec()
    edit(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InputError) as error:
        load_problem(path)
    assert str(path) in str(error.value) and field in str(error.value)


def test_malformed_yaml_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="line"):
        load_problem(path)
    path.write_text("- a list\n")
    with pytest.raises(InputError, match="top level"):
        load_problem(path)
    with pytest.raises(InputError, match="spectrometer"):
        load_problem(tmp_path / "missing.yaml")
