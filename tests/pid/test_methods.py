"""PID methods on small generated track sets (simulation -> shifted data)."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.nn.train import TrainConfig
from aihep.pid.data import DomainConfig, generate_tracks, shifted_data_domain
from aihep.pid.methods import (
    TransformerTrainConfig,
    f1_scores,
    features,
    fit_hgb,
    fit_mlp,
    fit_transformer,
    imputed,
    nsigma_probabilities,
    transformer_probabilities,
)
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
    probabilities = {
        "nsigma": nsigma_probabilities(data, DomainConfig().detector),
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
