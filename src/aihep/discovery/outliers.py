"""Outlier anomaly scores: autoencoder reconstruction error or flow density, decorrelated from mjj.

An outlier model learns the background alone (a reference sample, or the data outside the
signal region) and scores how unlike it an event is: the autoencoder's reconstruction error,
or -log p(x | mjj) of a conditional normalizing flow. Raw outlier scores on jet masses prefer
high mjj (heavier, broader jets look rarer), so a cut on them sculpts a rising tail or fake
bump into the selected spectrum. Two remedies, both on by default:

* *conditioning*: mjj is an input of the autoencoder / the context of the flow;
* *conditional-quantile decorrelation*: the raw score s of an event at mjj = m is replaced by
  u = F(s | m), the fraction of background events at that mjj with a lower score, estimated
  from the out-of-fold scores of the training sample in mjj bins (interpolated between bin
  centres, so the signal region may lie in a gap of a sideband-trained model). A cut u > 1 - f
  then keeps the fraction f of the background at every mjj, and the selected background
  spectrum has the shape of the uncut one.

Every data event is scored by one of ``n_folds`` models that never saw it (training rows by
their own fold's model, other rows by a model assigned at random), as for the classifiers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.discovery.autoencoder import Autoencoder, AutoencoderConfig
from aihep.discovery.flows import ConditionalDensity, FlowConfig
from aihep.discovery.weak import MethodScores
from aihep.errors import InputError


class OutlierConfig(BaseModel):
    """Which outlier model and how its score is decorrelated from mjj."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conditional: bool = Field(True, description="give the model mjj as input/context")
    decorrelate: bool = Field(True, description="conditional-quantile transform in mjj")
    n_mjj_bins: int = Field(20, ge=2, description="equal-population mjj bins for the CDFs")
    autoencoder: AutoencoderConfig = Field(default_factory=AutoencoderConfig)
    flow: FlowConfig = Field(default_factory=FlowConfig)


def _fit_score(kind: str, config: OutlierConfig, x_train: np.ndarray, m_train: np.ndarray,
               seed: int):
    """Train one model, return a function (x, mjj) -> raw score (higher = more anomalous)."""
    context = (lambda m: np.log(m)) if config.conditional else (lambda m: np.zeros(len(m)))
    if kind == "ae":
        ae = Autoencoder(config.autoencoder).fit(
            x_train, context(m_train) if config.conditional else None, seed=seed)
        return lambda x, m: ae.score(x, context(m) if config.conditional else None)
    flow = ConditionalDensity(config.flow).fit(x_train, context(m_train), seed=seed)
    return lambda x, m: -flow.log_prob(x, context(m))


def quantile_curves(scores: np.ndarray, mjj_gev: np.ndarray, n_bins: int,
                    levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score quantiles at ``levels`` in equal-population mjj bins.

    Returns (bin centres in GeV (b,), quantiles (b, len(levels))).
    """
    edges = np.quantile(mjj_gev, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, mjj_gev, side="right") - 1, 0, n_bins - 1)
    centres, curves = [], []
    for b in range(n_bins):
        s = scores[which == b]
        if len(s) >= 10:
            centres.append(float(np.median(mjj_gev[which == b])))
            curves.append(np.quantile(s, levels))
    if not centres:
        raise InputError("outlier training sample", "events", "at least 10 events per mjj bin")
    return np.asarray(centres), np.asarray(curves)


def conditional_quantile(scores: np.ndarray, mjj_gev: np.ndarray, centres: np.ndarray,
                         curves: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """u = F(score | mjj) from quantile curves, linear in mjj between bin centres."""
    # quantile value of every level at each event's mjj: (n, levels)
    at_m = np.stack([np.interp(mjj_gev, centres, curves[:, j]) for j in range(len(levels))],
                    axis=1)
    at_m = np.maximum.accumulate(at_m, axis=1)  # keep each row non-decreasing
    u = np.empty(len(scores))
    for i in range(len(scores)):
        u[i] = np.interp(scores[i], at_m[i], levels)
    return u


def _levels() -> np.ndarray:
    """CDF levels, dense in the upper tail where cuts are made."""
    tail = 1.0 - np.logspace(-4, np.log10(0.2), 60)
    return np.unique(np.concatenate([np.linspace(0.0, 0.8, 41), tail, [1.0]]))


def outlier(kind: Literal["ae", "flow"], x: np.ndarray, mjj_gev: np.ndarray,
            train_rows: np.ndarray | None = None, reference_x: np.ndarray | None = None,
            reference_mjj: np.ndarray | None = None, config: OutlierConfig | None = None,
            n_folds: int = 5, seed: int = DEFAULT_SEED, test_x: np.ndarray | None = None,
            test_mjj: np.ndarray | None = None) -> MethodScores:
    """Outlier scores of every data event (higher = more anomalous).

    Args:
        kind: ``ae`` (autoencoder reconstruction error) or ``flow`` (-log p(x | mjj)).
        x: data features (n, d); mjj_gev: (n,) dijet masses in GeV.
        train_rows: boolean mask of the data rows to learn the background from (e.g. outside
            the SR); ignored when a reference is given.
        reference_x, reference_mjj: a background-only sample to learn from instead.
        config: model and decorrelation settings; n_folds: models (each scores the rows it
            never saw); seed: fold split and model seeds.
        test_x, test_mjj: optional independent rows, scored by the first fold's model.
    Returns:
        MethodScores with ``index`` = all data rows (0..n-1) and their scores (in [0, 1] when
        decorrelated: the background CDF at the event's mjj).
    """
    config = config or OutlierConfig()
    x = np.asarray(x, float)
    mjj_gev = np.asarray(mjj_gev, float)
    rng = np.random.default_rng(seed)
    if reference_x is not None:
        if reference_mjj is None:
            raise InputError("reference", "mjj", "dijet masses of the reference events")
        bx, bm = np.asarray(reference_x, float), np.asarray(reference_mjj, float)
        if bx.ndim != 2 or bx.shape[1] != x.shape[1]:
            raise InputError("reference", "features", f"{x.shape[1]} feature columns like data")
        data_in_train = np.zeros(len(x), bool)
    else:
        data_in_train = (np.ones(len(x), bool) if train_rows is None
                         else np.asarray(train_rows, bool))
        bx, bm = x[data_in_train], mjj_gev[data_in_train]
    if len(bx) < 20 * n_folds:
        raise InputError("outlier training sample", "events",
                         f"at least {20 * n_folds} background events (found {len(bx)})")
    train_fold = rng.permutation(np.arange(len(bx)) % n_folds)
    data_fold = rng.integers(0, n_folds, len(x))
    if reference_x is None:
        data_fold[data_in_train] = train_fold
    raw, train_raw = np.empty(len(x)), np.empty(len(bx))
    test_raw = None
    for k in range(n_folds):
        score = _fit_score(kind, config, bx[train_fold != k], bm[train_fold != k],
                           seed * 100 + k)
        train_raw[train_fold == k] = score(bx[train_fold == k], bm[train_fold == k])
        raw[data_fold == k] = score(x[data_fold == k], mjj_gev[data_fold == k])
        if k == 0 and test_x is not None and test_mjj is not None:
            test_raw = score(np.asarray(test_x, float), np.asarray(test_mjj, float))
    scores, test_scores = raw, test_raw
    if config.decorrelate:
        levels = _levels()
        centres, curves = quantile_curves(train_raw, bm, config.n_mjj_bins, levels)
        scores = conditional_quantile(raw, mjj_gev, centres, curves, levels)
        if test_raw is not None and test_mjj is not None:
            test_scores = conditional_quantile(test_raw, np.asarray(test_mjj, float), centres,
                                               curves, levels)
    return MethodScores(kind, np.arange(len(x)), scores, None, test_scores)
