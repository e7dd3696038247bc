"""Metrics and weakly supervised methods on a synthetic resonance (Gaussian features)."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.discovery import metrics
from aihep.discovery.classifiers import ClassifierConfig, out_of_fold_scores
from aihep.discovery.flows import FlowConfig
from aihep.discovery.weak import SignalRegion, cathode, cwola, idealized, supervised
from aihep.errors import InputError
from aihep.nn.train import TrainConfig

FAST = ClassifierConfig(n_ensemble=1, max_iter=60)
SR = SignalRegion(3300.0, 3700.0, sideband_gev=300.0)


def _sample(n_bkg: int, n_sig: int, rng: np.random.Generator):
    mjj_b = 2800.0 + rng.exponential(500.0, n_bkg)
    x_b = rng.normal(0.0, 1.0, (n_bkg, 4))
    mjj_s = rng.normal(3500.0, 80.0, n_sig)
    x_s = np.column_stack([rng.normal(2.0, 0.4, (n_sig, 2)), rng.normal(0.0, 1.0, (n_sig, 2))])
    mjj = np.concatenate([mjj_b, mjj_s])
    x = np.concatenate([x_b, x_s])
    y = np.concatenate([np.zeros(n_bkg, int), np.ones(n_sig, int)])
    return mjj, x, y


def test_metrics_on_known_scores():
    labels = np.array([0] * 1000 + [1] * 100)
    perfect = labels.astype(float)
    assert metrics.auc(perfect, labels) == 1.0
    rng = np.random.default_rng(0)
    random = rng.random(1100)
    assert metrics.auc(random, labels) == pytest.approx(0.5, abs=0.07)
    tpr, sic = metrics.sic_curve(random, labels, min_background=25)
    nonzero = tpr > 0
    fpr = (tpr[nonzero] / sic[nonzero]) ** 2
    assert np.all(np.rint(fpr * 1000) >= 25)  # at least 25 background events pass everywhere
    result = metrics.evaluate(random, labels, n_bootstrap=20)
    assert result.max_sic_band[0] <= result.max_sic * 1.5
    assert metrics.agents_of_discovery_min_background(1000, 1000) == 5
    assert metrics.agents_of_discovery_min_background(1000, 100_000) == 1


def test_metrics_reject_bad_input():
    with pytest.raises(InputError, match="both classes"):
        metrics.auc(np.ones(5), np.zeros(5))
    with pytest.raises(InputError, match="finite"):
        metrics.auc(np.array([np.nan, 1.0]), np.array([0, 1]))


def test_out_of_fold_scores_never_score_training_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (600, 3))
    y = rng.integers(0, 2, 600)
    scores = out_of_fold_scores(x, y, FAST, n_folds=3, seed=1).scores
    # Pure noise: out-of-fold scores carry no label information (in-sample they would).
    assert metrics.auc(scores, y) == pytest.approx(0.5, abs=0.08)


def test_methods_find_synthetic_resonance_in_order():
    rng = np.random.default_rng(2)
    mjj, x, truth = _sample(30000, 400, rng)
    t_mjj, t_x, t_y = _sample(20000, 2000, rng)
    in_test_sr = SR.contains(t_mjj)
    test_x, test_y = t_x[in_test_sr], t_y[in_test_sr]
    background_sr = rng.normal(0.0, 1.0, (int(SR.contains(mjj).sum()), 4))
    results = {
        "supervised": supervised(x, mjj, SR, truth, FAST, 3, 0, test_x),
        "idealized": idealized(x, mjj, SR, background_sr, FAST, 3, 0, test_x),
        "cwola": cwola(x, mjj, SR, FAST, 3, 0, test_x),
        "cathode": cathode(x, mjj, SR, FAST, 3, 0, test_x, flow_config=FlowConfig(
            transforms=2, hidden_features=(32, 32), train=TrainConfig(epochs=8,
                                                                      batch_size=512))),
    }
    aucs = {k: metrics.auc(r.test_scores, test_y) for k, r in results.items()}
    assert aucs["supervised"] > 0.97
    assert aucs["idealized"] > 0.93
    assert aucs["cwola"] > 0.85
    assert aucs["cathode"] > 0.9
    assert aucs["cathode"] > aucs["idealized"] - 0.05
    for name, r in results.items():
        inside = SR.contains(mjj[r.index])
        assert np.all(inside | SR.in_sidebands(mjj[r.index]) if name == "cwola" else inside)
        assert len(r.scores) == len(r.index)


def test_empty_signal_region_is_a_clear_error():
    rng = np.random.default_rng(3)
    mjj, x, _ = _sample(500, 0, rng)
    with pytest.raises(InputError, match="signal region: expected at least 10 events"):
        cwola(x, mjj, SignalRegion(9000.0, 9500.0), FAST)


def test_weighted_bins_split_the_weight_evenly_and_keep_the_order():
    """The boosted trees' bins, found here in one sort per feature (scikit-learn's weighted
    binning sorts once per quantile): equal weight per bin, order kept, few-valued
    features untouched, and the same classifier quality as on the raw features."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from aihep.discovery.classifiers import MAX_BINS, apply_bins, weighted_bin_edges

    rng = np.random.default_rng(3)
    n = 20000
    y = (rng.random(n) < 0.2).astype(int)
    weights = np.where(y == 1, 0.5 / 0.2, 0.5 / 0.8)
    x = np.column_stack([rng.normal(y * 0.8, 1.0), rng.integers(0, 5, n).astype(float)])
    edges = weighted_bin_edges(x, weights)
    assert edges[1] is None and len(edges[0]) == MAX_BINS - 1
    binned = apply_bins(x, edges)
    np.testing.assert_array_equal(binned[:, 1], x[:, 1])
    order = np.argsort(x[:, 0])
    assert np.all(np.diff(binned[order, 0]) >= 0)  # monotone in the feature
    per_bin = np.bincount(binned[:, 0].astype(int), weights=weights, minlength=MAX_BINS)
    assert per_bin.max() < 1.5 * weights.sum() / MAX_BINS  # ~equal weight in every bin
    assert per_bin.min() > 0.5 * weights.sum() / MAX_BINS
    with pytest.raises(ValueError, match="expected 2 feature columns"):
        apply_bins(x[:, :1], edges)
    test = np.column_stack([rng.normal(0.8 * (np.arange(4000) % 2), 1.0),
                            rng.integers(0, 5, 4000).astype(float)])
    truth = np.arange(4000) % 2
    raw = HistGradientBoostingClassifier(max_iter=50, random_state=1).fit(
        x, y, sample_weight=weights)
    ours = HistGradientBoostingClassifier(max_iter=50, random_state=1).fit(
        binned, y, sample_weight=weights)
    auc_raw = metrics.auc(raw.predict_proba(test)[:, 1], truth)
    auc_ours = metrics.auc(ours.predict_proba(apply_bins(test, edges))[:, 1], truth)
    assert auc_raw > 0.65 and abs(auc_ours - auc_raw) < 0.01
