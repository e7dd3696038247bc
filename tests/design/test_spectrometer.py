"""The spectrometer simulation and reconstruction (benchmark B)."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.design.problems import load_problem
from aihep.design.spectrometer import (
    GEV_TO_KAPPA,
    SpectrometerSettings,
    evaluate_layout,
    exact_kappa_sigma,
    gluckstern_kappa_sigma,
    metric_names,
    track_momentum,
)

Z8 = np.arange(1.0, 9.0)


def test_reproducible_per_seed_and_different_across_seeds():
    problem = load_problem("spectrometer")
    a = problem.simulate(problem.baseline, seed=5, events=100)
    assert a == problem.simulate(problem.baseline, seed=5, events=100)
    assert a != problem.simulate(problem.baseline, seed=6, events=100)
    assert sorted(a) == sorted(metric_names(SpectrometerSettings()))  # checked at load time


@pytest.mark.parametrize("n_stations", [5, 8, 10])
def test_fit_resolution_matches_exact_least_squares(n_stations):
    """No multiple scattering, a field over all stations, one track per event: the spread
    of the fitted curvature equals the least-squares error within 5%."""
    settings = SpectrometerSettings(
        field_start_m=0.0, field_end_m=100.0, multiple_scattering=False, hit_efficiency=1.0,
        tracks_per_event=1, noise_hits_per_station=0, vertex_sigma_mm=None, width_m=4.0,
        chi2_ndf_max=1e9)
    # irrational position ratios: commensurate positions correlate the pixel errors of
    # tracks from a point-like source (by up to 10% in sigma: a property of digitization)
    z = 1.5 * np.sqrt(np.array([2, 3, 5, 7, 11, 13, 17, 19, 23, 29])[:n_stations] / 2)
    g = np.full(n_stations, 1000)
    result = track_momentum(z, g, settings, 5.0, 4000, seed=1)
    assert result.efficiency == 1.0
    kappa = GEV_TO_KAPPA * settings.field_tesla / 5.0
    fitted = np.std(result.residuals) * kappa  # residual = kappa/kappa_fit - 1 ~ -dk/k
    exact = exact_kappa_sigma(z, np.full(n_stations, 4.0 / 1000 / np.sqrt(12)), 0.0, 100.0)
    assert fitted == pytest.approx(exact, rel=0.05)
    # Gluckstern's formula (equal spacing) lies above the exact value for few stations
    even = np.linspace(1.0, 5.0, n_stations)
    sigma = np.full(n_stations, 1e-3)
    ratio = gluckstern_kappa_sigma(n_stations, 4.0, 1e-3) / exact_kappa_sigma(
        even, sigma, 0.0, 100.0)
    assert 1.0 < ratio < 1.06


def test_finer_pixels_improve_resolution_and_scattering_degrades_it():
    settings = SpectrometerSettings()
    coarse = evaluate_layout(Z8, np.full(8, 128), settings, 300, seed=2)
    fine = evaluate_layout(Z8, np.full(8, 512), settings, 300, seed=2)
    assert fine["resolution_100_pct"] < 0.6 * coarse["resolution_100_pct"]
    heavy = evaluate_layout(Z8, np.full(8, 512), SpectrometerSettings(material_x0=0.2), 300,
                            seed=2)
    assert heavy["resolution_10_pct"] > 1.3 * fine["resolution_10_pct"]


def test_efficiency_follows_hit_efficiency_and_acceptance():
    good = evaluate_layout(Z8, np.full(8, 256), SpectrometerSettings(), 300, seed=3)
    lossy = evaluate_layout(Z8, np.full(8, 256), SpectrometerSettings(hit_efficiency=0.6),
                            300, seed=3)
    assert good["efficiency_pct"] > 90 and lossy["efficiency_pct"] < good["efficiency_pct"] - 20
    # stations all upstream of the magnet measure no momentum: nothing is found
    blind = evaluate_layout([0.5, 1.0, 1.5, 2.0], [256] * 4, SpectrometerSettings(), 100, 3)
    assert blind["efficiency_pct"] == 0 and blind["resolution_100_pct"] == 100


def test_resolution_scales_like_momentum_without_scattering():
    """Hit-limited: sigma_p/p grows linearly with p."""
    settings = SpectrometerSettings(multiple_scattering=False, noise_hits_per_station=0)
    m = evaluate_layout(Z8, np.full(8, 256), settings, 400, seed=4)
    assert m["resolution_100_pct"] / m["resolution_10_pct"] == pytest.approx(10, rel=0.15)
