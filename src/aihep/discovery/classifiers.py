"""Classifier ensembles and k-fold out-of-fold scoring, shared by every weak-supervision method.

Every scored event gets its score from models that never saw it: events are split into
``n_folds`` folds; for each fold an ensemble is trained on the other folds (plus optional
train-only rows, e.g. CATHODE samples) and scores the held-out fold. Classes are balanced
with sample weights.

Rows that take no part in training but must be scored *like* the training rows (events outside
the signal region, whose selected spectrum is bump-hunted) go in ``held_out_x``: they are
assigned to folds too and scored by their fold's ensemble alone. Scoring them with the average
of all folds instead would shrink their score spread, so a high threshold would pass fewer of
them than of the out-of-fold rows and sculpt a fake bump where the training rows are.
An independent test set (``test_x``, for ROC/SIC only) is scored by the average of all folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.errors import InputError
from aihep.nn.classifier import MLPConfig


class ClassifierConfig(BaseModel):
    """Which classifier and how big an ensemble."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hgb", "mlp"] = Field(
        "hgb", description="hgb: scikit-learn HistGradientBoosting; mlp: PyTorch perceptron")
    n_ensemble: int = Field(5, ge=1)
    max_iter: int = Field(200, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    max_leaf_nodes: int = Field(31, ge=2)
    early_stopping: bool = True
    binning: Literal["weighted-quantiles", "sklearn"] = Field(
        "weighted-quantiles", description="hgb: where the trees' bins go. weighted-quantiles: "
        "at the weighted quantiles, found by aihep in one sort per feature; sklearn: by "
        "scikit-learn itself (1.9: the same quantiles, one sort per quantile, ~3x slower hunts)")
    mlp: MLPConfig = Field(default_factory=MLPConfig)


def _new_model(config: ClassifierConfig, seed: int):
    """One untrained ensemble member with ``fit(x, y, sample_weight)`` / ``predict_proba``."""
    if config.kind == "mlp":
        from aihep.nn.classifier import MLPClassifier

        return MLPClassifier(config.mlp, seed=seed)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=config.max_iter, learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes, early_stopping=config.early_stopping,
        validation_fraction=0.2, random_state=seed)


MAX_BINS = 255
"""HistGradientBoosting's default number of bins per feature."""


def weighted_bin_edges(x: np.ndarray, weights: np.ndarray,
                       max_bins: int = MAX_BINS) -> list[np.ndarray | None]:
    """Per feature, the thresholds at the weighted quantiles k / max_bins (k = 1..max_bins-1)
    of ``x`` (n, d); None for a feature with at most ``max_bins`` distinct values.

    The boosted trees bin every feature into ``max_bins`` quantiles before training. With
    sample weights scikit-learn (1.9) finds each quantile with a sort of its own, ~250 sorts
    per feature and fit: nine tenths of a hunt's classifier time. One sort per feature here,
    then :func:`apply_bins`, gives the trees a feature with <= max_bins distinct values, which
    they keep as their bins: the same weighted quantiles at a fraction of the cost."""
    edges: list[np.ndarray | None] = []
    levels = np.arange(1, max_bins) / max_bins
    for column in np.asarray(x, dtype=float).T:
        order = np.argsort(column, kind="stable")
        values = column[order]
        if len(np.unique(values)) <= max_bins:
            edges.append(None)
            continue
        cdf = np.cumsum(weights[order])
        at = np.searchsorted(cdf / cdf[-1], levels)
        edges.append(np.unique(values[np.minimum(at, len(values) - 1)]))
    return edges


def apply_bins(x: np.ndarray, edges: list[np.ndarray | None]) -> np.ndarray:
    """Each value replaced by its bin index (value <= threshold i: bin i), as floats."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(edges):
        msg = f"expected {len(edges)} feature columns, got shape {x.shape}"
        raise ValueError(msg)
    return np.column_stack([column if e is None else np.searchsorted(e, column, side="left")
                            .astype(float) for column, e in zip(x.T, edges, strict=True)])


def _fit_predict(config: ClassifierConfig, x_train: np.ndarray, y_train: np.ndarray,
                 x_eval: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Train an ensemble, return its mean probability of class 1 on each eval array."""
    weights = np.where(y_train == 1, 0.5 / max(y_train.mean(), 1e-12),
                       0.5 / max(1 - y_train.mean(), 1e-12))
    if config.kind == "hgb" and config.binning == "weighted-quantiles" and len(x_train):
        edges = weighted_bin_edges(x_train, weights)
        x_train = apply_bins(x_train, edges)
        x_eval = [apply_bins(x, edges) if len(x) else x for x in x_eval]
    outputs = [np.zeros(len(x)) for x in x_eval]
    for member in range(config.n_ensemble):
        model = _new_model(config, seed * 1000 + member)
        model.fit(x_train, y_train, sample_weight=weights)
        for out, x in zip(outputs, x_eval, strict=True):
            if len(x):
                out += model.predict_proba(x)[:, 1] / config.n_ensemble
    return outputs


def out_of_fold_scores(
    x: np.ndarray,
    y: np.ndarray,
    config: ClassifierConfig | None = None,
    n_folds: int = 5,
    seed: int = DEFAULT_SEED,
    train_only_x: np.ndarray | None = None,
    train_only_y: np.ndarray | None = None,
    test_x: np.ndarray | None = None,
    held_out_x: np.ndarray | None = None,
) -> FoldScores:
    """Out-of-fold class-1 probabilities for every row of ``x``.

    Args:
        x: features (n, d); y: labels (n,) in {0, 1} (e.g. SR vs sideband, data vs background).
        config: classifier settings; n_folds: folds (>= 2); seed: fold split and model seeds.
        train_only_x, train_only_y: rows used for training in every fold, never scored.
        test_x: optional independent rows scored by the average of all fold ensembles.
        held_out_x: rows assigned to folds and scored by their fold's ensemble only.
    """
    config = config or ClassifierConfig()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y).astype(int)
    if x.ndim != 2 or len(x) != len(y):
        raise InputError("features", "shape", f"(n, d) features and n labels, got {x.shape} "
                         f"and {y.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("features", "values", "finite feature values (found NaN or inf)")
    if n_folds < 2:
        msg = f"n_folds must be >= 2, got {n_folds}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(x), dtype=int)
    for label in (0, 1):  # stratified
        idx = np.flatnonzero(y == label)
        fold[idx] = rng.permutation(np.arange(len(idx)) % n_folds)
    scores = np.zeros(len(x))
    test_scores = None if test_x is None else np.zeros(len(test_x))
    held = None if held_out_x is None else np.asarray(held_out_x, float)
    held_fold = None if held is None else rng.permutation(np.arange(len(held)) % n_folds)
    held_scores = None if held is None else np.zeros(len(held))
    for k in range(n_folds):
        train = fold != k
        x_train, y_train = x[train], y[train]
        if train_only_x is not None and train_only_y is not None:
            x_train = np.concatenate([x_train, train_only_x])
            y_train = np.concatenate([y_train, np.asarray(train_only_y).astype(int)])
        evals = [x[~train]]
        evals.append(np.asarray(test_x, float) if test_x is not None else np.empty((0, 0)))
        evals.append(held[held_fold == k] if held is not None else np.empty((0, 0)))
        outs = _fit_predict(config, x_train, y_train, evals, seed * 100 + k)
        scores[~train] = outs[0]
        if test_scores is not None:
            test_scores += outs[1] / n_folds
        if held_scores is not None:
            held_scores[held_fold == k] = outs[2]
    return FoldScores(scores, held_scores, test_scores)


@dataclass(frozen=True)
class FoldScores:
    """Out-of-fold scores of the training rows, the held-out rows and the test rows."""

    scores: np.ndarray
    held_out: np.ndarray | None
    test: np.ndarray | None
