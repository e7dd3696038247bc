"""Tagger metrics, one implementation for every model: accuracy, AUC, rejection, confusion.

- Accuracy: arg-max class equals the label.
- AUC per class: one class against all others (its probability as the score); macro = mean.
- Background rejection 1/eps_B at a signal efficiency eps_S, for a signal class against a
  background class, with the discriminant p_s / (p_s + p_b) as in the ParT paper (only jets of
  the two classes enter). eps_S is 50% by default and 99% / 99.5% for the leptonic JetClass
  classes (H -> l nu q q', t -> b l nu), as in that paper.
- Confusion matrix: rows are true classes, normalized to 1.
- Jet origin (quark vs antiquark classes named ``q`` and ``qbar``): flavour efficiency (the
  predicted class is q or qbar for a true q or qbar jet) and charge-flip rate (among those,
  the predicted class has the wrong charge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from aihep.errors import InputError

REJECTION_EFFICIENCY = {"Hqql": 0.99, "Tbl": 0.995}


@dataclass(frozen=True)
class Rejection:
    """1/eps_B at eps_S; ``lower_bound`` when no background jet passed (1/eps_B > n_b)."""

    signal: str
    background: str
    efficiency: float
    rejection: float
    n_background: int
    lower_bound: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TaggerMetrics:
    """Metrics of class probabilities on a labelled set."""

    classes: tuple[str, ...]
    n_jets: int
    accuracy: float
    auc: dict[str, float]
    macro_auc: float
    rejections: list[Rejection]
    confusion: np.ndarray = field(repr=False)
    jet_origin: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "n_jets": self.n_jets, "accuracy": self.accuracy,
                "auc": self.auc, "macro_auc": self.macro_auc,
                "rejections": [r.to_dict() for r in self.rejections],
                "confusion": self.confusion.round(5).tolist(), "jet_origin": self.jet_origin}


def _check(probs: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> None:
    if probs.ndim != 2 or probs.shape[1] != len(classes) or len(labels) != len(probs):
        raise InputError("scores", "shape", f"(n_jets, {len(classes)}) probabilities and "
                         f"n_jets labels, got {probs.shape} and {labels.shape}")
    if not np.all(np.isfinite(probs)):
        raise InputError("scores", "values", "finite probabilities")


def rejection(probs: np.ndarray, labels: np.ndarray, signal: int, background: int,
              efficiency: float, names: tuple[str, str] = ("s", "b")) -> Rejection:
    """1/eps_B of the discriminant p_s / (p_s + p_b) at signal efficiency ``efficiency``."""
    ps, pb = probs[:, signal], probs[:, background]
    disc = ps / np.maximum(ps + pb, 1e-30)
    sig, bkg = disc[labels == signal], disc[labels == background]
    if len(sig) == 0 or len(bkg) == 0:
        raise InputError("labels", names[0], f"jets of both '{names[0]}' and '{names[1]}'")
    cut = np.quantile(sig, 1.0 - efficiency)
    passed = int((bkg >= cut).sum())
    value = len(bkg) / passed if passed else float(len(bkg))
    return Rejection(names[0], names[1], efficiency, float(value), len(bkg), passed == 0)


def _jet_origin(probs: np.ndarray, labels: np.ndarray,
                classes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out = {}
    pred = probs.argmax(1)
    for i, name in enumerate(classes):
        anti = f"{name}bar"
        if anti not in classes:
            continue
        j = classes.index(anti)
        true_q = (labels == i) | (labels == j)
        right_flavour = true_q & ((pred == i) | (pred == j))
        flipped = right_flavour & (((labels == i) & (pred == j)) | ((labels == j) & (pred == i)))
        if true_q.sum():
            out[name] = {"efficiency": float(right_flavour.sum() / true_q.sum()),
                         "charge_flip": float(flipped.sum() / max(right_flavour.sum(), 1)),
                         "n_jets": int(true_q.sum())}
    return out


def tagger_metrics(probs: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                   background: str | None = None,
                   efficiencies: dict[str, float] | None = None) -> TaggerMetrics:
    """All metrics of ``probs`` (n_jets, n_classes) against integer ``labels`` (n_jets,).

    Args:
        background: the class rejected (default: ``QCD`` or ``light`` when present, else the
            first class); rejections are computed for every other class.
        efficiencies: eps_S per signal class (default 0.5, see REJECTION_EFFICIENCY).
    """
    probs, labels = np.asarray(probs, float), np.asarray(labels).astype(int)
    classes = tuple(classes)
    _check(probs, labels, classes)
    present = np.unique(labels)
    auc = {}
    for i, name in enumerate(classes):
        if i in present and len(present) > 1:
            auc[name] = float(roc_auc_score(labels == i, probs[:, i]))
    if background is None:
        background = next((c for c in ("QCD", "light") if c in classes), classes[0])
    b = classes.index(background)
    eff = {**REJECTION_EFFICIENCY, **(efficiencies or {})}
    rejections = [rejection(probs, labels, i, b, eff.get(name, 0.5), (name, background))
                  for i, name in enumerate(classes) if i != b and i in present and b in present]
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (labels, probs.argmax(1)), 1.0)
    confusion /= np.maximum(confusion.sum(1, keepdims=True), 1.0)
    return TaggerMetrics(classes, len(labels), float((probs.argmax(1) == labels).mean()), auc,
                         float(np.mean(list(auc.values()))) if auc else float("nan"),
                         rejections, confusion, _jet_origin(probs, labels, classes))
