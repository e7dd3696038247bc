"""The calorimeter benchmark: shower library, pion model, resolution trends."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.design.calorimeter import (
    CalorimeterSettings,
    build_electron_library,
    electron_signals,
    evaluate_layers,
    library_layout,
    metric_names,
    pion_events,
    resolution,
    sampling_weights,
)
from aihep.design.problems import load_problem
from aihep.errors import ConfigError

PIONS = CalorimeterSettings(particles=("pion",), library_events=4000)


@pytest.fixture(scope="module")
def small_library(tmp_path_factory):
    """150 electrons of 5 GeV in 300 mm of iron, 1 mm slices."""
    settings = CalorimeterSettings(particles=("electron",), energies_gev=(5.0,),
                                   depth_mm=300, library_events=150,
                                   cache_dir=str(tmp_path_factory.mktemp("library")))
    build_electron_library(settings, 5.0, "train")
    return settings


def test_library_signal_equals_a_direct_simulation_of_the_same_geometry(small_library):
    """Layers read from the library vs the same layers simulated directly (independent
    showers, the same absorber): mean signal per layer and resolution agree."""
    from aihep.fastsim.cascade import Calorimeter, CascadeConfig, simulate_shower
    from aihep.fastsim.geometry import CaloLayout, Slab
    from aihep.workflow import seeds

    z = np.array([10.0, 40.0, 80.0, 150.0])
    t = np.array([5.0, 8.0, 3.0, 5.0])
    library = electron_signals(small_library, 5.0, z, t)
    # the direct geometry: iron slabs, the design's layers marked active (same material)
    slabs, edge = [], 0.0
    for zi, ti in zip(z, t, strict=True):
        slabs += [Slab(material="Fe", thickness_mm=zi - edge),
                  Slab(material="Fe", thickness_mm=ti, active=True)]
        edge = zi + ti
    slabs.append(Slab(material="Fe", thickness_mm=300.0 - edge))
    layout = CaloLayout(cell=tuple(slabs), n_cells=1, radial_edges_mm=(0.0, 1e5))
    calo = Calorimeter(layout, CascadeConfig(
        max_loss=small_library.library_max_loss,
        path_correction=small_library.library_path_correction))
    direct = []
    for i in range(150):
        profile = np.zeros(len(slabs))
        simulate_shower(calo, 5e3, seeds.rng(777, "shower", i), profile)
        direct.append(profile[1::2][:4])
    ratio = 1.936 * 1.060 / (1.451 * 7.874)  # scintillator / iron MIP dE/dx
    direct = ratio * np.array(direct)
    for k in range(4):
        a, b = library[:, k], direct[:, k]
        err = np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))
        assert abs(a.mean() - b.mean()) < 3.5 * err + 1e-3 * a.mean(), k
    w = sampling_weights(z, t, 300)
    ra, rb = resolution(library @ w), resolution(direct @ w)
    assert ra == pytest.approx(rb, rel=0.25)


def test_library_geometry_is_plain_absorber_in_mm_slices():
    layout = library_layout(CalorimeterSettings(depth_mm=400), 50.0)
    assert layout.n_voxels == 400 and layout.cell[0].material == "Fe"
    assert layout.energy_min_mev == layout.energy_max_mev == 5e4


def test_missing_library_is_a_clear_error(tmp_path):
    settings = CalorimeterSettings(particles=("electron",), cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="aihep design library"):
        evaluate_layers([0.0, 50.0], [5.0, 5.0], settings, 100, 1)


def test_pion_model_em_fraction_and_first_interaction():
    events = pion_events(PIONS, 50.0, 20000, seed=3)
    assert events["e_em"].mean() / 5e4 == pytest.approx(1 - 50 ** -0.18, abs=0.01)
    assert events["z0"].mean() == pytest.approx(203.0, rel=0.03)


def test_finer_sampling_improves_and_leakage_degrades_the_pion_resolution():
    fine = evaluate_layers(np.arange(16) * 93.0, np.full(16, 2.0), PIONS, 4000, 1)
    coarse = evaluate_layers(np.arange(4) * 372.0, np.full(4, 8.0), PIONS, 4000, 1)
    short = evaluate_layers(np.arange(16) * 30.0, np.full(16, 2.0), PIONS, 4000, 1)
    assert fine["resolution_pion_pct"] < 0.8 * coarse["resolution_pion_pct"]
    assert short["resolution_pion_pct"] > 1.3 * fine["resolution_pion_pct"]  # 0.5 m deep


def test_reproducible_per_seed_and_library_choice():
    z, t = np.arange(8) * 100.0, np.full(8, 5.0)
    a = evaluate_layers(z, t, PIONS, 2000, 1)
    assert a == evaluate_layers(z, t, PIONS, 2000, 1)
    assert sorted(a) == sorted(metric_names(PIONS))  # what a problem file is checked against
    assert a != evaluate_layers(z, t, PIONS, 2000, 2)
    test = PIONS.model_copy(update={"library": "test"})
    assert a != evaluate_layers(z, t, test, 2000, 1)


def test_built_in_problem_and_its_reevaluation_library():
    problem = load_problem("calorimeter")
    assert problem.objective_spec.reevaluate_settings == {"library": "test"}
    assert sum(problem.baseline[f"t{i}"] for i in range(1, 17)) <= 40
