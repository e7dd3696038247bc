"""Dijet fit, window scan and bump hunt on toy spectra; cross-check with pyBumpHunter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from aihep.discovery import bump_hunt, fit_dijet, scan_windows, select_dijet_fit
from aihep.discovery.dijet import bin_integrals, poisson_deviance
from aihep.errors import InputError

EDGES = np.arange(2600.0, 6001.0, 100.0)


def _expected(params: list[float], total: float, edges: np.ndarray = EDGES) -> np.ndarray:
    shape = bin_integrals(edges, np.array([1.0, *params]), 13000.0)
    return shape * total / shape.sum()


def _events(counts: np.ndarray, rng: np.random.Generator, edges: np.ndarray = EDGES):
    lo = np.repeat(edges[:-1], counts)
    return lo + rng.uniform(0, 1, len(lo)) * np.repeat(np.diff(edges), counts)


def test_fit_recovers_known_parameters_with_coverage():
    rng = np.random.default_rng(1)
    mu = _expected([8.0, 6.0], 20000)
    delta = []
    for _ in range(200):
        n = rng.poisson(mu)
        fit = fit_dijet(EDGES, n)
        assert fit.valid
        delta.append(poisson_deviance(n, mu) - fit.deviance)
    delta = np.array(delta)
    assert np.all(delta >= -1e-6)  # the fit is never worse than the truth
    # Truth inside the 95% likelihood region in 95% of toys (3 parameters).
    assert 0.90 < np.mean(delta < stats.chi2.ppf(0.95, 3)) < 0.99


def test_fit_with_high_statistics_hits_truth_and_minos_covers_it():
    mu = _expected([8.0, 6.0], 2_000_000)
    fit = fit_dijet(EDGES, np.random.default_rng(2).poisson(mu), minos=True)
    np.testing.assert_allclose(fit.expected, mu, rtol=0.03)
    for value, truth, (lo, hi) in zip(fit.params[1:], (8.0, 6.0), fit.errors[1:], strict=True):
        assert value + 3 * lo < truth < value + 3 * hi
    assert fit.chi2_pvalue > 0.001


def test_f_test_adds_p3_only_when_needed():
    rng = np.random.default_rng(3)
    _, test3 = select_dijet_fit(EDGES, rng.poisson(_expected([8.0, 6.0], 200_000)))
    assert test3["n_params"] == 3
    _, test4 = select_dijet_fit(EDGES, rng.poisson(_expected([8.0, 6.0, 1.5], 200_000)))
    assert test4["n_params"] == 4 and test4["f_pvalue"] < 1e-3


def test_scan_statistics():
    scan = scan_windows(np.array([10, 10, 30, 10]), np.array([10.0, 10, 10, 10]), 1, 2)
    best = scan.best
    assert (scan.start[best], scan.width[best]) == (2, 1)
    assert scan.p_local[best] == pytest.approx(stats.poisson.sf(29, 10.0))
    assert scan.z_local[best] == pytest.approx(np.sqrt(2 * (30 * np.log(3) - 20)))
    assert np.all(scan.z_local[scan.observed <= scan.expected] == 0)


@pytest.mark.slow  # ~25 s of toys: run with `pytest -m slow`
def test_background_only_global_pvalues_are_uniform():
    rng = np.random.default_rng(4)
    mu = _expected([8.0, 6.0], 5000)
    p_values = [bump_hunt(_events(rng.poisson(mu), rng), EDGES, n_toys=60, n_params=3,
                          seed=i).p_global for i in range(40)]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert min(p_values) > 0.01  # no fake discovery


def test_injected_gaussian_bump_found_at_right_place():
    rng = np.random.default_rng(5)
    background = _events(rng.poisson(_expected([8.0, 6.0], 20000)), rng)
    signal = rng.normal(3500.0, 100.0, 250)
    result = bump_hunt(np.concatenate([background, signal]), EDGES, n_toys=200, seed=1)
    lo, hi = result.window_gev
    assert lo <= 3500.0 <= hi and hi - lo <= 600
    assert result.z_local > 4
    assert result.p_global_method == "trials-factor extrapolation"
    assert result.p_global < 1 / 201
    assert result.p_global > result.p_local
    assert 3 < result.n_eff_trials < 200  # correlated windows: fewer than the 168 scanned


def test_scan_restricted_to_window_centres_in_a_range():
    edges = np.arange(0.0, 801.0, 100.0)
    full = scan_windows(np.full(8, 10.0), np.full(8, 10.0), 1, 3)
    part = scan_windows(np.full(8, 10.0), np.full(8, 10.0), 1, 3, edges, (200.0, 400.0))
    centres = 0.5 * (edges[part.start] + edges[part.start + part.width])
    assert np.all((centres >= 200) & (centres <= 400)) and len(part.start) < len(full.start)
    # every window of the full scan centred in the range is kept
    full_centres = 0.5 * (edges[full.start] + edges[full.start + full.width])
    assert len(part.start) == np.sum((full_centres >= 200) & (full_centres <= 400))


def test_bump_hunt_in_a_signal_region_has_fewer_trials_and_ignores_bumps_outside():
    rng = np.random.default_rng(5)
    background = _events(rng.poisson(_expected([8.0, 6.0], 20000)), rng)
    signal = rng.normal(3500.0, 100.0, 150)
    mjj = np.concatenate([background, signal])
    full = bump_hunt(mjj, EDGES, n_toys=100, seed=1)
    inside = bump_hunt(mjj, EDGES, n_toys=100, seed=1, centre_range_gev=(3300.0, 3700.0))
    lo, hi = inside.window_gev
    assert 3300 <= 0.5 * (lo + hi) <= 3700 and lo <= 3500 <= hi
    # the same excess, a smaller look-elsewhere effect
    assert inside.n_eff_trials < full.n_eff_trials / 3
    assert inside.p_global < full.p_global
    elsewhere = bump_hunt(mjj, EDGES, n_toys=100, seed=1, centre_range_gev=(4800.0, 5200.0))
    assert not 3300 <= 0.5 * sum(elsewhere.window_gev) <= 3700
    assert elsewhere.p_global > 0.01
    # one narrow window: the toys' effective trials may fit below 1; the global p never
    # drops below the local one
    one = bump_hunt(mjj, EDGES, n_toys=30, seed=1, min_width=2, max_width=2,
                    centre_range_gev=(3500.0, 3500.0))
    assert len(one.scan.start) == 1 and one.p_global >= one.p_local * (1 - 1e-12)
    with pytest.raises(InputError, match="centre_range_gev"):
        bump_hunt(mjj, EDGES, n_toys=10, centre_range_gev=(7000.0, 8000.0))


def test_effective_trials_of_independent_uniform_tests():
    from aihep.discovery.bumphunt import effective_trials

    rng = np.random.default_rng(9)
    minima = rng.random((4000, 12)).min(axis=1)
    assert effective_trials(minima) == pytest.approx(12, rel=0.05)


def test_agrees_with_pybumphunter():
    pytest.importorskip("pyBumpHunter")
    from pyBumpHunter import BumpHunter1D

    rng = np.random.default_rng(6)
    background = _events(rng.poisson(_expected([8.0, 6.0], 20000)), rng)
    data = np.concatenate([background, rng.normal(4100.0, 120.0, 160)])
    ours = bump_hunt(data, EDGES, n_toys=20, seed=2)
    hunter = BumpHunter1D(rang=(EDGES[0], EDGES[-1]), width_min=2, width_max=8, width_step=1,
                          scan_step=1, bins=EDGES, npe=0, seed=0, nworker=1)
    hunter.bump_scan(ours.counts, ours.fit.expected, is_hist=True, do_pseudo=False)
    lo_bin = int(hunter.min_loc_ar[0])
    width = int(hunter.min_width_ar[0])
    assert (EDGES[lo_bin], EDGES[lo_bin + width]) == ours.window_gev
    assert -np.log(hunter.min_Pval_ar[0]) == pytest.approx(ours.bumphunter_t, rel=1e-9)


@pytest.mark.parametrize(("values", "match"), [
    (np.array([3000.0, np.nan]), "NaN or infinite"),
    (np.array([]), "non-empty"),
])
def test_bad_mjj_is_a_clear_error(values, match):
    with pytest.raises(InputError, match=match):
        bump_hunt(values, EDGES, n_toys=1)


def test_windows_wider_than_the_spectrum_are_a_clear_error():
    # 5 bins, windows of at least 8: no window to scan (was a numpy concatenate error)
    assert len(scan_windows(np.ones(5), np.ones(5), min_width=8).start) == 0
    edges = EDGES[:6]
    counts = np.round(_expected([10.0, 5.0], 20_000.0, edges)).astype(int)
    mjj = _events(counts, np.random.default_rng(3), edges)
    with pytest.raises(InputError, match="min_width = 8"):
        bump_hunt(mjj, edges, n_toys=1, min_width=8)
