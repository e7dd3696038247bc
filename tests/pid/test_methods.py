"""PID methods on small generated track sets (simulation -> shifted data)."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.nn.train import TrainConfig
from aihep.pid.data import DomainConfig, generate_tracks, shifted_data_domain
from aihep.pid.methods import (
    TransformerTrainConfig,
    bayes_probabilities,
    features,
    fit_hgb,
    fit_mlp,
    fit_transformer,
    imputed,
    nsigma_probabilities,
    transformer_probabilities,
)
from aihep.pid.metrics import f1_scores
from aihep.pid.model import PIDModelConfig


@pytest.fixture(scope="module")
def domains():
    return (generate_tracks(DomainConfig(), 600, seed=4),
            generate_tracks(shifted_data_domain(1.0), 300, seed=5))


def test_every_method_identifies_most_tracks(domains):
    sim, data = domains
    fast = TransformerTrainConfig(model=PIDModelConfig(hidden=16, layers=1, heads=2),
                                  train=TrainConfig(epochs=4, batch_size=256,
                                                    learning_rate=3e-3, patience=4))
    hgb = fit_hgb(sim)
    mlp, means = fit_mlp(sim)
    priors = np.bincount(sim.species, minlength=4) / len(sim)
    probabilities = {
        "nsigma": nsigma_probabilities(data, DomainConfig().detector),
        "bayes": bayes_probabilities(data, DomainConfig().detector, priors),
        "hgb": hgb.predict_proba(features(data)),
        "mlp-imputed": mlp.predict_proba(imputed(features(data), means)),
        "transformer": transformer_probabilities(fit_transformer(sim, fast), data),
        "transformer+dann": transformer_probabilities(fit_transformer(
            sim, fast.model_copy(update={"dann_lambda_max": 0.5}), data), data)}
    for name, p in probabilities.items():
        assert p.shape == (len(data), 4) and np.allclose(p.sum(1), 1.0), name
        # pions dominate: accuracy above the pion fraction is the bar for real information
        accuracy = (p.argmax(1) == data.species).mean()
        assert accuracy > 0.8, name
    scores = f1_scores(probabilities["hgb"], data.species)
    assert 0 < scores["f1_macro"] <= 1 and set(scores["f1_per_species"]) == {
        "e", "pi", "K", "p"}


def test_imputation_adds_missingness_flags():
    x = np.array([[0.1, np.nan, 50.0], [0.2, 1.0, np.nan]])
    out = imputed(x, np.array([0.0, 2.0, 40.0]))
    np.testing.assert_array_equal(out, [[0.1, 2.0, 50.0, 0, 1, 0], [0.2, 1.0, 40.0, 0, 0, 1]])


def test_bayes_uses_tof_where_the_tpc_cannot_separate():
    """At 1.5 GeV/c the TPC barely separates K from pi; TOF does (beta 0.9957 vs 0.9503)."""
    from aihep.pid.detectors import DetectorConfig, simulate_signals

    rng = np.random.default_rng(8)
    n = 4000
    config = DetectorConfig(tof_plateau=1.0, tof_mismatch=0.0, dropout=0.0)
    species = rng.integers(1, 3, n)  # pi or K
    signals = simulate_signals(np.full(n, 1.5), species, config, rng)
    tracks_tof = type("T", (), {"signals": signals, "p_gev": signals.p_gev})()
    priors = np.array([0.01, 0.5, 0.5, 0.01])
    with_tof = bayes_probabilities(tracks_tof, config, priors).argmax(1)
    no_tof = type(signals)(signals.p_gev, signals.its, signals.tpc,
                           np.full(n, np.nan), signals.trd)
    tracks_no = type("T", (), {"signals": no_tof, "p_gev": signals.p_gev})()
    without = bayes_probabilities(tracks_no, config, priors).argmax(1)
    assert (with_tof == species).mean() > 0.97
    assert (without == species).mean() < (with_tof == species).mean() - 0.05


def test_v0_calibration_measures_the_gain_and_the_tof_offset_despite_mismatches():
    from aihep.pid.detectors import DetectorConfig, simulate_signals
    from aihep.pid.methods import calibrate_on_v0

    rng = np.random.default_rng(9)
    n = 6000
    data = DetectorConfig(tpc_gain=1.03, tof_offset_ps=25.0, tof_resolution_ps=100.0,
                          tof_mismatch=0.05, tof_plateau=1.0)
    signals = simulate_signals(rng.uniform(0.6, 3.0, n), np.full(n, 1), data, rng)
    tracks = type("T", (), {"signals": signals, "p_gev": signals.p_gev})()
    index, species = np.arange(n), np.full(n, 1)
    calibrated = calibrate_on_v0(tracks, index, species, DetectorConfig())
    assert abs(calibrated.tpc_gain - 1.03) < 0.003
    assert abs(calibrated.tof_offset_ps - 25.0) < 5.0  # statistical error ~2 ps
    # too few pions with a TOF hit: the offset stays, the gain is still measured
    few = calibrate_on_v0(tracks, index[:19], species[:19], DetectorConfig())
    assert few == DetectorConfig()


def test_combined_nsigma_uses_tof_where_present():
    """At 1.5 GeV/c the TPC barely separates K from pi; with TOF the combined n-sigma does."""
    from aihep.pid.detectors import DetectorConfig, simulate_signals

    rng = np.random.default_rng(10)
    n = 4000
    config = DetectorConfig(tof_plateau=1.0, tof_mismatch=0.0, dropout=0.0)
    species = rng.integers(1, 3, n)
    signals = simulate_signals(np.full(n, 1.5), species, config, rng)
    tracks = type("T", (), {"signals": signals, "p_gev": signals.p_gev})()
    no_tof = type(signals)(signals.p_gev, signals.its, signals.tpc,
                           np.full(n, np.nan), signals.trd)
    tracks_no = type("T", (), {"signals": no_tof, "p_gev": signals.p_gev})()
    with_tof = (nsigma_probabilities(tracks, config).argmax(1) == species).mean()
    without = (nsigma_probabilities(tracks_no, config).argmax(1) == species).mean()
    assert with_tof > 0.97 and without < with_tof - 0.05


def test_em_recovers_the_class_fractions_of_a_reweighted_sample():
    """Posteriors made under the simulation's priors, on a sample with other fractions: EM
    prior adjustment finds the sample's fractions (to the statistical error)."""
    from aihep.pid.detectors import DetectorConfig, simulate_signals
    from aihep.pid.methods import em_class_fractions

    rng = np.random.default_rng(11)
    config = DetectorConfig()
    prior = np.array([0.02, 0.80, 0.12, 0.06])
    truth = np.array([0.02, 0.70, 0.17, 0.11])  # K and p up, as another tune would give
    n = 30000
    species = rng.choice(4, n, p=truth)
    signals = simulate_signals(rng.uniform(0.3, 3.0, n), species, config, rng)
    tracks = type("T", (), {"signals": signals, "p_gev": signals.p_gev})()
    posteriors = bayes_probabilities(tracks, config, prior)
    naive = posteriors.mean(0)
    estimate = em_class_fractions(posteriors, prior)
    assert np.abs(estimate - truth).max() < 0.01
    assert np.abs(estimate - truth).max() < 0.5 * np.abs(naive - truth).max()
    assert em_class_fractions(posteriors, prior).sum() == pytest.approx(1.0)


def test_class_weights_give_the_domain_loss_the_data_mixture(domains):
    """With class_weights the simulated tracks' weights sum per species to the data's
    fractions; training with them runs and differs from unweighted DANN."""
    from aihep.pid.methods import class_mixture_weights

    sim, data = domains
    weights, fractions = class_mixture_weights(sim, data, shifted_data_domain(1.0).detector)
    assert fractions.sum() == pytest.approx(1.0) and (weights > 0).all()
    per_species = np.bincount(sim.species, weights=weights[sim.species], minlength=4)
    np.testing.assert_allclose(per_species / per_species.sum(), fractions, rtol=1e-9)
    true = np.bincount(data.species, minlength=4) / len(data)
    assert np.abs(fractions - true).max() < 0.05
    fast = TransformerTrainConfig(model=PIDModelConfig(hidden=16, layers=1, heads=2),
                                  train=TrainConfig(epochs=2, batch_size=256,
                                                    learning_rate=3e-3, patience=4),
                                  dann_lambda_max=1.0)
    plain = transformer_probabilities(fit_transformer(sim, fast, data), data)
    weighted = transformer_probabilities(fit_transformer(sim, fast, data,
                                                         class_weights=weights), data)
    assert not np.allclose(plain, weighted)


def test_detector_sets_name_the_present_detectors_in_order():
    from aihep.pid.metrics import detector_sets, pid_performance

    present = {"ITS": np.array([1, 0, 1, 0], bool), "TPC": np.ones(4, bool),
               "TOF": np.array([1, 1, 0, 0], bool)}
    assert detector_sets(present).tolist() == ["ITS+TPC+TOF", "TPC+TOF", "ITS+TPC", "TPC"]
    probabilities = np.eye(4)[[0, 1, 1, 3]]
    perf = pid_performance(probabilities, np.array([0, 1, 2, 3]), np.ones(4),
                           present["TOF"], present)
    # one track per set: the species absent from a set get no F1 (not a zero in the mean)
    assert perf["by_detectors"]["ITS+TPC+TOF"] == {"tracks": 1, "f1_per_species": {"e": 1.0},
                                                   "f1_macro": 1.0}
    assert perf["by_detectors"]["ITS+TPC"]["f1_macro"] == 0.0  # the kaon called a pion
