"""The conditional flow reproduces a known conditional 2-d density (KS test per dimension)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from aihep.discovery.flows import ConditionalDensity, FlowConfig
from aihep.nn.train import TrainConfig


def _truth(c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # x1 | c ~ N(0.5 c, 0.3); x2 | x1 ~ N(x1^2 / 2, 0.2): curved, context-dependent.
    x1 = rng.normal(0.5 * c, 0.3)
    return np.column_stack([x1, rng.normal(0.5 * x1**2, 0.2)])


@pytest.mark.slow  # ~50 s: a statistical check of the flow, run with `pytest -m slow`
def test_conditional_flow_matches_known_density():
    rng = np.random.default_rng(0)
    c = rng.uniform(-1.0, 1.0, 6000)
    x = _truth(c, rng)
    config = FlowConfig(transforms=3, hidden_features=(48, 48),
                        train=TrainConfig(epochs=25, batch_size=256, learning_rate=3e-3))
    flow = ConditionalDensity(config).fit(x, c, seed=1)
    for context in (-0.8, 0.0, 0.8):
        cc = np.full(3000, context)
        generated = flow.sample(cc, seed=2)
        reference = _truth(cc, rng)
        for dim in range(2):
            ks = stats.ks_2samp(generated[:, dim], reference[:, dim])
            assert ks.statistic < 0.08, (context, dim, ks)
    # Density in original units: mean log-likelihood close to the true entropy bound.
    test_c = rng.uniform(-1.0, 1.0, 2000)
    test_x = _truth(test_c, rng)
    true_lp = (stats.norm.logpdf(test_x[:, 0], 0.5 * test_c, 0.3)
               + stats.norm.logpdf(test_x[:, 1], 0.5 * test_x[:, 0] ** 2, 0.2))
    assert flow.log_prob(test_x, test_c).mean() > true_lp.mean() - 0.15


def test_flow_ensemble_is_the_equal_weight_mixture_of_its_members():
    rng = np.random.default_rng(3)
    c = rng.uniform(-1.0, 1.0, 1500)
    x = _truth(c, rng)
    config = FlowConfig(transforms=2, hidden_features=(16, 16), ensemble=3,
                        train=TrainConfig(epochs=3, batch_size=256, learning_rate=3e-3))
    mixture = ConditionalDensity(config).fit(x, c, seed=5)
    assert len(mixture.flows) == 3 and len(mixture.results) == 3
    members = []
    for flow in mixture.flows:
        single = ConditionalDensity(config.model_copy(update={"ensemble": 1}))
        single.x_mean, single.x_std = mixture.x_mean, mixture.x_std
        single.c_mean, single.c_std = mixture.c_mean, mixture.c_std
        single.flows = [flow]
        members.append(single.log_prob(x[:200], c[:200]))
    expected = np.log(np.mean(np.exp(members), axis=0))
    np.testing.assert_allclose(mixture.log_prob(x[:200], c[:200]), expected, atol=1e-5)
    # Members differ (different seeds), and sampling is reproducible per seed.
    assert np.ptp(np.array(members), axis=0).mean() > 1e-3
    np.testing.assert_array_equal(mixture.sample(c[:50], seed=1), mixture.sample(c[:50], seed=1))
