"""CLs upper limits with pyhf: asymptotic reference values, bands and injected signals."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.discovery.dijet import bin_integrals
from aihep.discovery.extraction import signal_bin_fractions
from aihep.discovery.limits import cls_upper_limit, resonance_limits
from aihep.errors import InputError


def test_single_bin_limit_matches_the_asymptotic_formula():
    # Large b, negligible background uncertainty: the median expected CLs 95% limit is
    # sigma * Phi^-1(1 - 0.05 / 2) = 1.96 sqrt(b) events.
    b = 10_000.0
    obs, exp = cls_upper_limit(np.array([b]), np.array([b]), np.array([1e-3 * b]),
                               np.array([100.0]))
    assert exp[2] * 100 == pytest.approx(1.96 * np.sqrt(b), rel=0.03)
    assert obs == pytest.approx(exp[2], rel=0.02)  # observed = background
    assert exp[0] < exp[1] < exp[2] < exp[3] < exp[4]
    # a downward fluctuation of 2 sigma gives a stronger limit, an excess a weaker one
    low, _ = cls_upper_limit(np.array([b - 200]), np.array([b]), np.array([10.0]),
                             np.array([100.0]))
    high, _ = cls_upper_limit(np.array([b + 200]), np.array([b]), np.array([10.0]),
                              np.array([100.0]))
    assert low < obs < high


def _spectrum(n_bkg: int, n_sig: int, seed: int):
    rng = np.random.default_rng(seed)
    edges = np.arange(2600.0, 6001.0, 100.0)
    shape = bin_integrals(edges, np.array([1.0, 8.0, 6.0]), 13000.0)
    counts = rng.multinomial(n_bkg, shape / shape.sum())
    mjj = np.repeat(edges[:-1], counts) + rng.uniform(0, 100.0, n_bkg)
    return edges, np.concatenate([mjj, rng.normal(3500.0, 175.0, n_sig)])


def test_resonance_limits_cover_an_injected_signal():
    edges, mjj = _spectrum(20_000, 0, 1)
    quiet = resonance_limits(mjj, edges, [3500.0])[0]
    assert quiet.expected_band[0] < quiet.observed < quiet.expected_band[3]
    edges, mjj = _spectrum(20_000, 400, 1)
    loud = resonance_limits(mjj, edges, [3500.0])[0]
    assert loud.observed > 400 * 0.8            # the injected yield is not excluded
    assert loud.observed > loud.expected_band[2]  # an excess: weaker than +1 sigma
    assert loud.to_dict()["cl"] == 0.95


def test_crystal_ball_template_is_normalized_with_a_low_tail():
    edges = np.linspace(1000.0, 6000.0, 501)
    cb = signal_bin_fractions(edges, 3500.0, 100.0, "crystal-ball")
    gauss = signal_bin_fractions(edges, 3500.0, 100.0, "gaussian")
    assert 0.99 < cb.sum() <= 1.0  # the power-law tail reaches below 1 TeV
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert cb[centres < 3200].sum() > 20 * gauss[centres < 3200].sum()
    assert centres[cb.argmax()] == pytest.approx(3500.0, abs=10.0)


def test_limits_refuse_an_empty_spectrum():
    with pytest.raises(InputError, match="at least 10 events"):
        resonance_limits(np.array([3000.0, 3100.0]), np.arange(2600.0, 4001.0, 100.0),
                         [3500.0])
