"""Outlier scores (autoencoder, flow density): anomalies score high, no mjj sculpting."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.discovery import metrics
from aihep.discovery.autoencoder import AutoencoderConfig
from aihep.discovery.flows import FlowConfig
from aihep.discovery.outliers import OutlierConfig, outlier
from aihep.errors import InputError
from aihep.nn.train import TrainConfig

FAST_FLOW = FlowConfig(transforms=2, hidden_features=(32, 32),
                       train=TrainConfig(epochs=15, batch_size=256, learning_rate=2e-3))
FAST_AE = AutoencoderConfig(train=TrainConfig(epochs=25, batch_size=256, learning_rate=3e-3,
                                              patience=5))


def _background(n: int, rng: np.random.Generator):
    """Features that scale with mjj, like jet masses: the sculpting trap."""
    mjj = 1500.0 + rng.exponential(600.0, n)
    x = np.column_stack([0.06 * mjj * (1 + 0.25 * rng.normal(size=n)),
                         0.04 * mjj * np.abs(rng.normal(size=n)),
                         rng.beta(5, 3, n), rng.beta(5, 3, n)])
    return mjj, x


def _efficiency_by_mjj(scores: np.ndarray, mjj: np.ndarray, keep: float) -> np.ndarray:
    selected = scores >= np.quantile(scores, 1 - keep)
    edges = np.quantile(mjj, np.linspace(0, 1, 6))
    which = np.clip(np.searchsorted(edges, mjj, side="right") - 1, 0, 4)
    return np.array([selected[which == b].mean() for b in range(5)])


@pytest.mark.parametrize("kind", ["ae", "flow"])
def test_decorrelated_outlier_scores_do_not_sculpt(kind):
    """Models and quantile curves learnt on one half, flatness measured on the other."""
    rng = np.random.default_rng(3)
    ref_mjj, ref_x = _background(5000, rng)  # the half everything is fitted on
    mjj, x = _background(5000, rng)  # the half the efficiency is measured on
    fast = {"autoencoder": FAST_AE, "flow": FAST_FLOW}
    common = {"reference_x": ref_x, "reference_mjj": ref_mjj, "n_folds": 2, "seed": 1}
    raw = outlier(kind, x, mjj, config=OutlierConfig(conditional=False, decorrelate=False,
                                                     **fast), **common)
    eff_raw = _efficiency_by_mjj(raw.scores, mjj, 0.1)
    assert eff_raw[-1] > 2 * eff_raw[0]  # the trap is real: raw scores prefer high mjj
    good = outlier(kind, x, mjj, config=OutlierConfig(**fast), **common)
    # the cut is the reference's 90% quantile (u >= 0.9), not a quantile of these scores
    selected = good.scores >= 0.9
    edges = np.quantile(mjj, np.linspace(0, 1, 6))
    which = np.clip(np.searchsorted(edges, mjj, side="right") - 1, 0, 4)
    eff = np.array([selected[which == b].mean() for b in range(5)])
    # 1000 events per bin: binomial sigma of a 10% efficiency is ~0.01
    np.testing.assert_allclose(eff, 0.1, atol=0.03)
    assert np.all((good.scores >= 0) & (good.scores <= 1))
    np.testing.assert_array_equal(good.index, np.arange(len(mjj)))


@pytest.mark.parametrize("kind", ["ae", "flow"])
def test_outliers_learnt_from_reference_find_anomalies(kind):
    rng = np.random.default_rng(4)
    ref_mjj, ref_x = _background(4000, rng)
    mjj, x = _background(2000, rng)
    anomalies = rng.choice(2000, 100, replace=False)
    x[anomalies, 0] = rng.normal(500.0, 20.0, 100)   # a jet mass QCD rarely gives here
    x[anomalies, 2:] = rng.beta(2, 6, (100, 2))       # two-prong-like tau21
    truth = np.zeros(2000, int)
    truth[anomalies] = 1
    result = outlier(kind, x, mjj, reference_x=ref_x, reference_mjj=ref_mjj,
                     config=OutlierConfig(autoencoder=FAST_AE, flow=FAST_FLOW), n_folds=2,
                     seed=2, test_x=x[:500], test_mjj=mjj[:500])
    assert metrics.auc(result.scores, truth) > 0.85
    assert result.test_scores is not None and len(result.test_scores) == 500


def test_outlier_refuses_bad_reference():
    rng = np.random.default_rng(5)
    mjj, x = _background(500, rng)
    with pytest.raises(InputError, match="feature columns"):
        outlier("ae", x, mjj, reference_x=x[:, :3], reference_mjj=mjj)
    with pytest.raises(InputError, match="background events"):
        outlier("ae", x[:50], mjj[:50])
