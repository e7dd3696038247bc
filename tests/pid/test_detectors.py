"""PID detector responses: Bethe-Bloch, TOF beta, availability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.nn.dann import DomainHead, dann_lambda, reverse_gradient
from aihep.pid.detectors import (
    MASSES_GEV,
    SPECIES,
    DetectorConfig,
    bethe_bloch_aleph,
    expected_beta,
    expected_tpc,
    n_sigma_tof,
    n_sigma_tpc,
    simulate_signals,
    tof_efficiency,
)


def test_bethe_bloch_shape():
    bg = np.logspace(-0.5, 3, 400)
    f = bethe_bloch_aleph(bg)
    minimum = bg[np.argmin(f)]
    assert 2.5 < minimum < 5.0  # minimum ionization near beta*gamma ~ 3.5
    assert 1.3 < f[-1] / f.min() < 1.7  # relativistic rise to the Fermi plateau in gas
    assert bethe_bloch_aleph(np.array(0.5)) > 2.5 * f.min()  # ~1/beta^2 at low momentum
    # by hand at beta*gamma = 1: beta^p4 = 0.70711^1.8631 = 0.52432,
    # (10.632 - 0.52432 - ln(1 + 1.3279e-5)) * 0.076176 / 0.52432 = 1.4685
    assert bethe_bloch_aleph(np.array(1.0)) == pytest.approx(1.4685, rel=2e-4)
    config = DetectorConfig()
    # the MIP reference: a 0.5 GeV/c pion (beta*gamma 3.6) gives 50
    assert expected_tpc(np.array(3.6 * MASSES_GEV["pi"]), MASSES_GEV["pi"], config) == \
        pytest.approx(50.0, rel=1e-6)
    # at 0.5 GeV/c protons lose several times more than pions
    assert expected_tpc(0.5, MASSES_GEV["p"], config) > 2.5 * expected_tpc(
        0.5, MASSES_GEV["pi"], config)


def test_tof_beta_hand_values_and_resolution():
    assert expected_beta(1.0, MASSES_GEV["p"]) == pytest.approx(1 / np.sqrt(1 + 0.938272**2))
    assert expected_beta(1.0, MASSES_GEV["pi"]) == pytest.approx(0.99040, abs=1e-5)
    rng = np.random.default_rng(1)
    n = 20000
    p = np.full(n, 2.0)
    signals = simulate_signals(p, np.full(n, 1), DetectorConfig(tof_mismatch=0, dropout=0,
                                                                tof_plateau=1.0), rng)
    beta = signals.tof[np.isfinite(signals.tof)]
    t = 3.7 / (beta * 0.299792458)
    t_true = 3.7 / (expected_beta(2.0, MASSES_GEV["pi"]) * 0.299792458)
    assert np.std(t - t_true) * 1e3 == pytest.approx(80.0, rel=0.03)


def test_tof_availability_follows_momentum_not_chance():
    config = DetectorConfig()
    assert tof_efficiency(np.array([0.3, 0.49]), config).tolist() == [0.0, 0.0]
    rng = np.random.default_rng(2)
    p = np.r_[np.full(5000, 0.4), np.full(5000, 3.0)]
    signals = simulate_signals(p, np.full(10000, 1), config, rng)
    seen = np.isfinite(signals.tof)
    assert not seen[:5000].any()
    assert seen[5000:].mean() == pytest.approx(0.70 * 0.98, abs=0.02)
    assert np.isfinite(signals.tpc).all()


def test_n_sigma_is_unit_gaussian_for_the_true_species():
    rng = np.random.default_rng(3)
    config = DetectorConfig()
    n = 20000
    signals = simulate_signals(rng.uniform(0.3, 2.0, n), np.full(n, SPECIES.index("K")),
                               config, rng)
    ns = n_sigma_tpc(signals, config)[:, SPECIES.index("K")]
    assert abs(np.mean(ns)) < 0.05 and 0.9 < np.std(ns) < 1.15


def test_tof_n_sigma_is_unit_gaussian_with_the_offset_and_nan_without_a_hit():
    rng = np.random.default_rng(4)
    config = DetectorConfig(tof_offset_ps=25.0, tof_resolution_ps=100.0, tof_mismatch=0.0)
    n = 20000
    signals = simulate_signals(rng.uniform(0.3, 2.0, n), np.full(n, SPECIES.index("p")),
                               config, rng)
    ns = n_sigma_tof(signals, config)
    seen = np.isfinite(signals.tof)
    assert np.isnan(ns[~seen]).all() and np.isfinite(ns[seen]).all() and seen.sum() > 5000
    assert abs(np.mean(ns[seen, 3])) < 0.05 and 0.95 < np.std(ns[seen, 3]) < 1.05
    # a proton at 1 GeV/c is 2.2 ns late on a pion's clock: many resolutions away
    assert np.median(np.abs(ns[seen & (signals.p_gev < 1.2), 1])) > 10
    no_offset = n_sigma_tof(signals, config.model_copy(update={"tof_offset_ps": 0.0}))
    assert np.mean(no_offset[seen, 3]) == pytest.approx(0.25, abs=0.05)


def test_gradient_reversal_flips_the_gradient_sign():
    x = torch.randn(5, 3, requires_grad=True)
    (reverse_gradient(x, 0.7) * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * torch.arange(3.0).expand(5, 3))
    assert torch.equal(reverse_gradient(x, 0.7), x)
    head = DomainHead(3)
    head.reverse.lam = 0.5
    features = torch.randn(4, 3, requires_grad=True)
    plain = torch.randn(4, 3, requires_grad=True)
    plain.data = features.data.clone()
    head(features).sum().backward()
    head.net(plain).sum().backward()
    torch.testing.assert_close(features.grad, -0.5 * plain.grad)
    assert dann_lambda(0.0) == 0.0 and dann_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)
