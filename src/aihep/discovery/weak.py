"""Weakly supervised and reference anomaly detectors in a signal region (SR) of mjj.

* CWoLa hunting: classify SR events against sideband (SB) events; signal, localized in mjj,
  makes the SR distinguishable.
* Idealized anomaly detector (IAD): classify SR data against a true background sample in the
  SR: the bound that CATHODE-like background estimates try to reach.
* Fully supervised: classify with the true labels: the upper bound.
* CATHODE: classify SR data against samples of a conditional flow trained outside the SR.

Each returns out-of-fold scores of the events it trains on, fold-consistent scores of
``held_out_x`` (other events to be scored alike, see :mod:`aihep.discovery.classifiers`) and,
optionally, ensemble scores of an independent test set (for ROC/SIC). Features must not be
strongly correlated with mjj (use mJ1, delta mJ, tau21s: not jet pTs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aihep import DEFAULT_SEED
from aihep.discovery.classifiers import ClassifierConfig, out_of_fold_scores
from aihep.discovery.flows import ConditionalDensity, FlowConfig, cathode_flow_config
from aihep.errors import InputError


@dataclass(frozen=True)
class SignalRegion:
    """An mjj window [lo_gev, hi_gev) with sidebands of ``sideband_gev`` on each side."""

    lo_gev: float
    hi_gev: float
    sideband_gev: float = 200.0

    def contains(self, mjj_gev: np.ndarray) -> np.ndarray:
        return (mjj_gev >= self.lo_gev) & (mjj_gev < self.hi_gev)

    def in_sidebands(self, mjj_gev: np.ndarray) -> np.ndarray:
        lower = (mjj_gev >= self.lo_gev - self.sideband_gev) & (mjj_gev < self.lo_gev)
        upper = (mjj_gev >= self.hi_gev) & (mjj_gev < self.hi_gev + self.sideband_gev)
        return lower | upper


@dataclass(frozen=True)
class MethodScores:
    """Scores of one method: ``scores`` of the data rows ``index`` (the SR events; CWoLa adds
    the sidebands), ``held_out_scores`` of the ``held_out_x`` rows, ``test_scores`` of
    ``test_x``."""

    method: str
    index: np.ndarray
    scores: np.ndarray
    held_out_scores: np.ndarray | None
    test_scores: np.ndarray | None


def _require(mask: np.ndarray, what: str, minimum: int = 10) -> None:
    if int(mask.sum()) < minimum:
        raise InputError("data", what, f"at least {minimum} events (found {int(mask.sum())})")


def _sr_rows(mjj_gev: np.ndarray, sr: SignalRegion) -> np.ndarray:
    """Indices of the events in the SR; at least 10 are required."""
    in_sr = sr.contains(mjj_gev)
    _require(in_sr, "signal region")
    return np.flatnonzero(in_sr)


def cwola(x: np.ndarray, mjj_gev: np.ndarray, sr: SignalRegion,
          config: ClassifierConfig | None = None, n_folds: int = 5, seed: int = DEFAULT_SEED,
          test_x: np.ndarray | None = None, held_out_x: np.ndarray | None = None
          ) -> MethodScores:
    """CWoLa hunting: SR (label 1) vs sidebands (label 0), out-of-fold over both."""
    in_sr, in_sb = sr.contains(mjj_gev), sr.in_sidebands(mjj_gev)
    _require(in_sr, "signal region")
    _require(in_sb, "sidebands")
    rows = np.flatnonzero(in_sr | in_sb)
    out = out_of_fold_scores(x[rows], in_sr[rows].astype(int), config, n_folds, seed,
                             test_x=test_x, held_out_x=held_out_x)
    return MethodScores("cwola", rows, out.scores, out.held_out, out.test)


def idealized(x: np.ndarray, mjj_gev: np.ndarray, sr: SignalRegion, background_x: np.ndarray,
              config: ClassifierConfig | None = None, n_folds: int = 5, seed: int = DEFAULT_SEED,
              test_x: np.ndarray | None = None, held_out_x: np.ndarray | None = None
              ) -> MethodScores:
    """IAD: SR data (label 1) vs a true-background sample in the SR (label 0, train only)."""
    rows = _sr_rows(mjj_gev, sr)
    bkg = np.asarray(background_x, float)
    if bkg.ndim != 2 or bkg.shape[1] != x.shape[1]:
        raise InputError("reference", "features", f"{x.shape[1]} feature columns like the data")
    # Background rows are split between folds like data, so every model sees comparable class
    # sizes; only the data rows are scored.
    xs = np.concatenate([x[rows], bkg])
    ys = np.concatenate([np.ones(len(rows), int), np.zeros(len(bkg), int)])
    out = out_of_fold_scores(xs, ys, config, n_folds, seed, test_x=test_x,
                             held_out_x=held_out_x)
    return MethodScores("idealized", rows, out.scores[: len(rows)], out.held_out, out.test)


def supervised(x: np.ndarray, mjj_gev: np.ndarray, sr: SignalRegion, truth: np.ndarray,
               config: ClassifierConfig | None = None, n_folds: int = 5, seed: int = DEFAULT_SEED,
               test_x: np.ndarray | None = None, held_out_x: np.ndarray | None = None
               ) -> MethodScores:
    """Fully supervised reference: true labels of the SR events."""
    rows = _sr_rows(mjj_gev, sr)
    labels = np.asarray(truth).astype(int)[rows]
    if labels.min() == labels.max():
        raise InputError("data", "label", "both signal and background events in the SR")
    out = out_of_fold_scores(x[rows], labels, config, n_folds, seed, test_x=test_x,
                             held_out_x=held_out_x)
    return MethodScores("supervised", rows, out.scores, out.held_out, out.test)


def cathode(x: np.ndarray, mjj_gev: np.ndarray, sr: SignalRegion,
            config: ClassifierConfig | None = None, n_folds: int = 5, seed: int = DEFAULT_SEED,
            test_x: np.ndarray | None = None, density: ConditionalDensity | None = None,
            flow_config: FlowConfig | None = None, oversample: int = 4,
            held_out_x: np.ndarray | None = None) -> MethodScores:
    """CATHODE: classifier of SR data against samples of a background density estimate.

    A conditional flow p(x | mjj) (default: a mixture of three NSFs) is fitted to the data
    outside the SR (or ``density`` is reused, e.g. one flow per excluded window set), sampled
    at SR mjj values drawn from the SR data (``oversample`` samples per SR event), and a
    classifier separates SR data (label 1)
    from the samples (label 0, used for training only). Its out-of-fold output is the score.
    """
    rows = _sr_rows(mjj_gev, sr)
    outside = ~sr.contains(mjj_gev)
    _require(outside, "events outside the signal region")
    if density is None:
        density = ConditionalDensity(flow_config or cathode_flow_config())
        density.fit(x[outside], mjj_gev[outside], seed=seed)
    rng = np.random.default_rng(seed)
    context = rng.choice(mjj_gev[rows], size=oversample * len(rows), replace=True)
    samples = density.sample(context, seed=seed)
    out = out_of_fold_scores(
        x[rows], np.ones(len(rows), int), config, n_folds, seed, train_only_x=samples,
        train_only_y=np.zeros(len(samples), int), test_x=test_x, held_out_x=held_out_x)
    return MethodScores("cathode", rows, out.scores, out.held_out, out.test)
