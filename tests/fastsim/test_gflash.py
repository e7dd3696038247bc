"""GFlash tuned to reference showers reproduces their response, profile and occupancy."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.fastsim.cascade import simulate
from aihep.fastsim.dataset import incident_energies
from aihep.fastsim.geometry import preset
from aihep.fastsim.gflash import GFlash, GFlashParams, tune
from aihep.fastsim.metrics import high_level_features

LAYOUT = preset("coarse").model_copy(update={"energy_max_mev": 4000.0})


@pytest.fixture(scope="module")
def reference():
    energies = incident_energies(LAYOUT, 1, 0, 80)
    return simulate(LAYOUT, energies, seed=1), energies


def test_tuned_gflash_matches_the_reference(reference):
    showers, energies = reference
    params = tune(showers, energies, LAYOUT)
    generated = GFlash(LAYOUT, params).generate(energies, seed=2)
    assert generated.shape == showers.shape
    response_ref = (showers.sum(1) / energies).mean()
    assert (generated.sum(1) / energies).mean() == pytest.approx(response_ref, rel=0.03)
    ref, gen = high_level_features(showers, LAYOUT), high_level_features(generated, LAYOUT)
    profile_ref = ref.e_layer.sum(0) / ref.e_layer.sum()
    profile_gen = gen.e_layer.sum(0) / gen.e_layer.sum()
    assert np.abs(profile_ref - profile_gen).sum() < 0.08
    # the first layers' lateral size (most of the energy). Before the closure calibration of
    # the radial tables (docs/fastsim.md) tuned GFlash was 15-29% too wide near the maximum
    # (layers 2-3, 4-12 X0); now 1-19% on reference seeds 1-4 of this small sample
    ratio = gen.ec_r.mean(0)[:3] / ref.ec_r.mean(0)[:3]
    assert abs(ratio[0] - 1) < 0.1, ratio
    assert np.all(np.abs(ratio[1:] - 1) < 0.25), ratio
    assert (generated > 0).mean() == pytest.approx((showers > 0).mean(), rel=0.2)


def test_untuned_gflash_is_a_valid_generator_and_seeded():
    model = GFlash(LAYOUT, GFlashParams())
    energies = np.array([1000.0, 2000.0, 4000.0])
    a, b = model.generate(energies, seed=5), model.generate(energies, seed=5)
    np.testing.assert_array_equal(a, b)
    assert np.all(a >= 0) and np.all(a.sum(1) > 0)
    assert not np.array_equal(a, model.generate(energies, seed=6))


def test_radial_tables_per_energy_bin_are_checked_and_used():
    edges = (2000.0,)
    n = 2 * len(GFlashParams().r_core)
    low = GFlashParams(radial_energy_edges_mev=edges, r_core=(0.05,) * n, r_tail=(0.5,) * n,
                       p_core=(0.9,) * (n // 2) + (0.1,) * (n // 2))
    assert list(low.energy_bin(np.array([1000.0, 2000.0, 3000.0]))) == [0, 1, 1]
    energies = np.array([1500.0, 3000.0] * 50)
    showers = GFlash(LAYOUT, low).generate(energies, seed=3)
    features = high_level_features(showers, LAYOUT)
    # the second energy bin draws mostly tail spots: wider showers
    assert features.ec_r[1::2, 0].mean() > 2 * features.ec_r[::2, 0].mean()
    with pytest.raises(ValueError, match="tau bins"):
        GFlashParams(radial_energy_edges_mev=edges)
