"""Classifier metrics shared by every method: ROC, AUC, SIC with bootstrap bands.

SIC = TPR / sqrt(FPR), the significance improvement of a cut at fixed efficiency. Its maximum
is only counted where enough background passes the cut (default: >= 25 background test
events), otherwise a lucky fluctuation of a handful of events dominates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aihep import DEFAULT_SEED
from aihep.errors import InputError


@dataclass(frozen=True)
class ClassifierMetrics:
    """Metrics of a score on a labelled test set (1 = signal)."""

    auc: float
    max_sic: float
    max_sic_band: tuple[float, float]
    tpr_at_max_sic: float
    n_signal: int
    n_background: int
    min_background: int

    def to_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "max_sic": self.max_sic, "max_sic_band": list(self.max_sic_band),
                "tpr_at_max_sic": self.tpr_at_max_sic, "n_signal": self.n_signal,
                "n_background": self.n_background, "min_background": self.min_background}


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(int)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise InputError("scores", "shape", f"1-d scores and labels of equal length, got "
                         f"{scores.shape} and {labels.shape}")
    if not np.all(np.isfinite(scores)):
        raise InputError("scores", "values", "finite scores")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 1 or len(np.unique(labels)) < 2:
        raise InputError("labels", "values", "both classes, 0 (background) and 1 (signal)")
    return scores, labels


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(FPR, TPR, number of background events passing) for every threshold."""
    from sklearn.metrics import roc_curve as _roc

    scores, labels = _check(scores, labels)
    fpr, tpr, _ = _roc(labels, scores, drop_intermediate=False)
    n_bkg = int((labels == 0).sum())
    return fpr, tpr, np.rint(fpr * n_bkg).astype(int)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve."""
    from sklearn.metrics import roc_auc_score

    scores, labels = _check(scores, labels)
    return float(roc_auc_score(labels, scores))


def sic_curve(scores: np.ndarray, labels: np.ndarray, min_background: int = 25
              ) -> tuple[np.ndarray, np.ndarray]:
    """(TPR, SIC) at thresholds where at least ``min_background`` background events pass."""
    fpr, tpr, n_pass = roc_curve(scores, labels)
    ok = n_pass >= max(min_background, 1)
    return tpr[ok], tpr[ok] / np.sqrt(fpr[ok])


def max_sic(scores: np.ndarray, labels: np.ndarray, min_background: int = 25) -> tuple[float,
                                                                                      float]:
    """(max SIC, TPR there) over thresholds passing at least ``min_background`` background."""
    tpr, sic = sic_curve(scores, labels, min_background)
    if len(sic) == 0:
        return float("nan"), float("nan")
    i = int(np.argmax(sic))
    return float(sic[i]), float(tpr[i])


def evaluate(scores: np.ndarray, labels: np.ndarray, min_background: int = 25,
             n_bootstrap: int = 100, seed: int = DEFAULT_SEED) -> ClassifierMetrics:
    """AUC and max SIC with a 68% bootstrap band (resampling the test events)."""
    scores, labels = _check(scores, labels)
    best, tpr_best = max_sic(scores, labels, min_background)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, len(scores), len(scores))
        if len(np.unique(labels[idx])) == 2:
            boot.append(max_sic(scores[idx], labels[idx], min_background)[0])
    lo, hi = np.nanpercentile(boot, [16, 84]) if boot else (np.nan, np.nan)
    band = (float(lo), float(hi))
    return ClassifierMetrics(auc(scores, labels), best, band, tpr_best,
                             int(labels.sum()), int((labels == 0).sum()), min_background)


def agents_of_discovery_min_background(n_background: int, n_events: int) -> int:
    """Background count to pass for the Agents-of-Discovery convention FPR >= 5 / N.

    FPR = passing / n_background, N = number of evaluated events, so at least
    ceil(5 n_background / N) background events must pass (5 when all events are background).
    """
    if n_events <= 0:
        msg = f"number of evaluated events must be positive, got {n_events}"
        raise ValueError(msg)
    return max(1, int(np.ceil(5.0 * n_background / n_events - 1e-9)))
