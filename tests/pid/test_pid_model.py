"""The PID transformer: token order, missing detectors, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.errors import ConfigError
from aihep.nn.train import seeded
from aihep.pid.detectors import DETECTORS, DetectorConfig, simulate_signals
from aihep.pid.model import PIDModelConfig, PIDTransformer, token_inputs


def tracks(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 3.0, n)
    species = rng.integers(0, 4, n)
    return simulate_signals(p, species, DetectorConfig(), rng), species


def net() -> PIDTransformer:
    with seeded(1):
        return PIDTransformer(PIDModelConfig(hidden=16, layers=2, heads=2,
                                             domain_head=True)).eval()


def test_token_order_does_not_matter():
    signals, _ = tracks()
    model = net()
    tokens, mask, kinds = token_inputs(signals.as_array(), signals.p_gev)
    order = ("trd", "tof", "its", "tpc")
    columns = [DETECTORS.index(d) for d in order]
    t2, m2, k2 = token_inputs(signals.as_array()[:, columns], signals.p_gev, order)
    with torch.no_grad():
        a, _ = model(tokens, mask, kinds)
        b, _ = model(t2, m2, k2)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_a_missing_detectors_slot_content_is_ignored():
    signals, _ = tracks()
    model = net()
    tokens, mask, kinds = token_inputs(signals.as_array(), signals.p_gev)
    garbage = tokens.clone()
    garbage[~mask] = 123.0
    with torch.no_grad():
        a, _ = model(tokens, mask, kinds)
        b, _ = model(garbage, mask, kinds)
    torch.testing.assert_close(a, b)
    assert (~mask[:, 1:]).any()  # some detectors are absent in these tracks


def test_bad_signals_are_clear_errors():
    signals, _ = tracks(8)
    with pytest.raises(ConfigError, match="unknown detectors"):
        token_inputs(signals.as_array(), signals.p_gev, ("its", "tpc", "tof", "rich"))
    bad = signals.as_array().copy()
    bad[0, 1] = np.inf
    with pytest.raises(ConfigError, match="finite or NaN"):
        token_inputs(bad, signals.p_gev)
    with pytest.raises(ConfigError, match="shape"):
        token_inputs(signals.as_array()[:, :3], signals.p_gev)


def test_the_transformer_learns_species_from_signals():
    from aihep.nn.train import TrainConfig, train

    signals, species = tracks(4000, seed=5)
    tokens, mask, kinds = token_inputs(signals.as_array(), signals.p_gev)
    y = torch.from_numpy(species)
    with seeded(2):
        model = PIDTransformer(PIDModelConfig(hidden=16, layers=1, heads=2))

    def loss(m, batch):
        t, k, target = batch
        return torch.nn.functional.cross_entropy(m(t, k, kinds)[0], target)

    train(model, loss, (tokens[:3500], mask[:3500], y[:3500]),
          (tokens[3500:], mask[3500:], y[3500:]),
          TrainConfig(epochs=15, batch_size=128, learning_rate=3e-3, patience=15))
    with torch.no_grad():
        accuracy = (model(tokens[3500:], mask[3500:], kinds)[0].argmax(1) == y[3500:]).float()
    assert float(accuracy.mean()) > 0.6  # four species, chance 0.25
