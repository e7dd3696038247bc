"""Signal extraction on toy spectra with a known resonance."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.discovery.dijet import bin_integrals
from aihep.discovery.extraction import (
    extract_signal,
    jet_mass_peak,
    signal_posterior,
    spurious_signal,
)
from aihep.discovery.metrics import auc
from aihep.errors import InputError

EDGES = np.arange(2600.0, 6001.0, 100.0)


def _background(total: int, rng: np.random.Generator) -> np.ndarray:
    shape = bin_integrals(EDGES, np.array([1.0, 8.0, 6.0]), 13000.0)
    counts = rng.poisson(shape * total / shape.sum())
    return np.repeat(EDGES[:-1], counts) + rng.uniform(0, 100.0, counts.sum())


def test_mass_and_yield_recovered_through_an_unknown_efficiency():
    rng = np.random.default_rng(7)
    n_signal, mass, width = 800, 3500.0, 120.0
    mjj = np.concatenate([_background(40000, rng), rng.normal(mass, width, n_signal)])
    is_signal = np.arange(len(mjj)) >= len(mjj) - n_signal
    # An anomaly cut keeping 40% of the signal and 3% of the background.
    selected = np.where(is_signal, rng.random(len(mjj)) < 0.4, rng.random(len(mjj)) < 0.03)
    result = extract_signal(mjj, selected, EDGES, mass_start_gev=3600.0)
    assert abs(result.mass.value - mass) < 3 * result.mass.error
    assert result.mass.error < 40.0
    assert abs(result.after_cut.width.value - width) < 3 * result.after_cut.width.error
    assert abs(result.n_signal.value - n_signal) < 3 * result.n_signal.error
    assert result.n_signal.error < 0.5 * n_signal
    selected_signal = int((selected & is_signal).sum())
    after = result.after_cut.n_signal
    assert abs(after.value - selected_signal) < 3 * after.error


def test_total_yield_is_bounded_where_the_rejected_spectrum_dips():
    """A small signal above a background dip (a mismodelling the dijet function cannot
    follow): the inclusive fit goes negative; the split estimator keeps the selected yield
    and bounds the rejected one at zero, its interval above zero and wide enough upwards."""
    rng = np.random.default_rng(21)
    background = _background(40000, rng)
    dip = (np.abs(background - 3500.0) < 150.0) & (rng.random(len(background)) < 0.25)
    background = background[~dip]
    n_signal = 60
    mjj = np.concatenate([background, rng.normal(3500.0, 100.0, n_signal)])
    is_signal = np.arange(len(mjj)) >= len(background)
    selected = np.where(is_signal, rng.random(len(mjj)) < 0.6, rng.random(len(mjj)) < 0.01)
    inclusive = extract_signal(mjj, selected, EDGES, 3500.0, total_yield="inclusive")
    split = extract_signal(mjj, selected, EDGES, 3500.0)
    assert inclusive.n_signal.value < 0 and inclusive.rejected is None
    assert split.rejected is not None and split.rejected.n_signal.value >= 0
    assert split.n_signal.value >= split.after_cut.n_signal.value > 0
    total = split.n_signal
    assert total.value + total.lower >= 0 and total.upper > split.after_cut.n_signal.upper
    assert total.value + 2 * total.upper > n_signal  # the truth inside two sigma
    assert split.to_dict()["total_yield"] == "split" and "n_signal_rejected" in split.to_dict()
    with pytest.raises(InputError, match="total_yield"):
        extract_signal(mjj, selected, EDGES, 3500.0, total_yield="both")
    # a cut that keeps everything: the selected yield is the total
    everything = extract_signal(mjj, np.ones(len(mjj), bool), EDGES, 3500.0)
    assert everything.n_signal == everything.after_cut.n_signal
    assert everything.to_dict()["total_yield"] == "split"
    # where nothing dips, both estimators agree within their errors
    clean = np.concatenate([_background(40000, rng), rng.normal(3500.0, 100.0, 800)])
    cut = np.concatenate([rng.random(len(clean) - 800) < 0.02, rng.random(800) < 0.5])
    a = extract_signal(clean, cut, EDGES, 3500.0).n_signal
    b = extract_signal(clean, cut, EDGES, 3500.0, total_yield="inclusive").n_signal
    assert abs(a.value - b.value) < max(a.error, b.error)


def test_spurious_signal_widens_the_yield_error_only_when_the_reference_fakes_a_peak():
    rng = np.random.default_rng(11)
    mjj = np.concatenate([_background(40000, rng), rng.normal(3500.0, 120.0, 800)])
    selected = rng.random(len(mjj)) < 0.05
    selected[-800:] = rng.random(800) < 0.4
    result = extract_signal(mjj, selected, EDGES, mass_start_gev=3500.0)
    assert result.spurious is None and result.spurious_error == 0.0
    # a smooth background-only reference: its fitted yield is a fluctuation, nothing added
    clean = spurious_signal(result, _background(80000, np.random.default_rng(100)), EDGES,
                            len(mjj))
    assert clean.spurious is not None
    assert abs(clean.spurious.value) < 3 * clean.spurious.error
    assert clean.n_signal.error < 1.2 * result.n_signal.error
    # a reference with a shoulder at the resonance mass (a badly modelled background):
    # the fake yield, scaled to the data, is added in quadrature
    shoulder = np.concatenate([_background(80000, rng), rng.normal(3500.0, 150.0, 1600)])
    biased = spurious_signal(result, shoulder, EDGES, len(mjj))
    assert biased.spurious.value > 400  # 1600 events at half the data's size
    assert biased.spurious_error > 0
    expected = np.hypot(result.n_signal.upper, biased.spurious_error)
    assert np.isclose(biased.n_signal.upper, expected)
    assert biased.n_signal.value == result.n_signal.value
    assert "spurious_signal" in biased.to_dict()


def test_jet_mass_peak():
    rng = np.random.default_rng(8)
    masses = np.concatenate([rng.exponential(150.0, 3000), rng.normal(100.0, 10.0, 500)])
    peak = jet_mass_peak(masses, (20.0, 300.0))
    assert abs(peak.value - 100.0) < 3 * peak.error
    assert peak.error < 5.0


def test_narrow_jet_mass_peak_has_a_real_error():
    rng = np.random.default_rng(9)
    masses = np.concatenate([rng.normal(500.0, 10.0, 80), rng.uniform(0.0, 600.0, 8)])
    peak = jet_mass_peak(masses, (0.0, 630.0))
    assert abs(peak.value - 500.0) < 5.0
    assert 0.5 < peak.error < 3.0  # ~ 10 / sqrt(80) = 1.1


def test_signal_posterior_combines_the_mass_peak_with_the_classifier():
    rng = np.random.default_rng(8)
    n_signal, mass, width = 600, 3500.0, 100.0
    mjj = np.concatenate([_background(40000, rng), rng.normal(mass, width, n_signal)])
    y = (np.arange(len(mjj)) >= len(mjj) - n_signal).astype(int)
    # a weak classifier: signal scores shifted up by one standard deviation of the noise
    logit = rng.normal(0.0, 1.0, len(mjj)) + y
    scores = 1 / (1 + np.exp(-logit))
    fit = extract_signal(mjj, np.ones(len(mjj), bool), EDGES, 3600.0).before_cut
    window = (mass - 200.0, mass + 200.0)
    post = signal_posterior(mjj, scores, fit, EDGES, window)
    assert np.all((post > 0) & (post < 1))
    # better than either ingredient alone
    assert auc(post, y) > max(auc(scores, y), auc(-np.abs(mjj - mass), y)) + 0.01
    # at a fixed mass higher classifier scores mean more signal; far from the peak, less
    at = np.full(3, mass)
    rising = signal_posterior(at, np.array([0.4, 0.6, 0.9]), fit, EDGES, window)
    assert np.all(np.diff(rising) > 0)
    falling = signal_posterior(mass + np.array([0.0, 2 * width, 6 * width]),
                               np.full(3, 0.9), fit, EDGES, window)
    assert np.all(np.diff(falling) < 0)


def test_interval_prints_asymmetric_errors_only_when_they_differ():
    from aihep.report.hunt import interval

    assert interval({"value": 300.0, "error": 36.0, "lower": -35.0, "upper": 37.0}) == "+- 36"
    # a yield bounded at zero: the two sides are given
    assert interval({"value": 17.0, "error": 14.3, "lower": -5.5, "upper": 23.1}) == "+23 -6"
    assert interval({"value": 0.11, "error": 0.1}, 2) == "+- 0.10"  # no lower/upper: symmetric
