"""The PyTorch MLP classifier and its use in the k-fold ensembles."""

from __future__ import annotations

import numpy as np

from aihep.discovery import metrics
from aihep.discovery.classifiers import ClassifierConfig, out_of_fold_scores
from aihep.nn.classifier import MLPClassifier, MLPConfig
from aihep.nn.train import TrainConfig

FAST = MLPConfig(hidden=(32, 32), train=TrainConfig(epochs=15, batch_size=128,
                                                    learning_rate=3e-3, patience=4))


def _two_blobs(n: int, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
    x = rng.normal(0.0, 1.0, (n, 3)) + np.where(y[:, None] == 1, [1.5, -1.0, 0.0], 0.0)
    return x, y


def test_mlp_separates_two_gaussians_near_the_bayes_limit():
    rng = np.random.default_rng(0)
    x, y = _two_blobs(4000, rng)
    xt, yt = _two_blobs(4000, rng)
    p = MLPClassifier(FAST, seed=1).fit(x, y).predict_proba(xt)
    assert p.shape == (4000, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    # optimal discriminant is linear: the projection on the mean difference
    bayes = metrics.auc(xt @ np.array([1.5, -1.0, 0.0]), yt)
    assert metrics.auc(p[:, 1], yt) > bayes - 0.01


def test_mlp_ensembles_in_out_of_fold_scoring():
    rng = np.random.default_rng(1)
    x, y = _two_blobs(1500, rng)
    config = ClassifierConfig(kind="mlp", n_ensemble=2, mlp=FAST)
    out = out_of_fold_scores(x, y, config, n_folds=3, seed=2, test_x=x[:10])
    assert out.scores.shape == (1500,)
    assert metrics.auc(out.scores, y) > 0.8
    assert out.test is not None and out.test.shape == (10,)
