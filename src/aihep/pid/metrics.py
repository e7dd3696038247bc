"""PID performance as physicists read it: F1, confusion matrices and per-species efficiency
and purity against momentum, each per detector-availability class (with TOF, without TOF,
all). Pure functions of class probabilities, true species and momenta."""

from __future__ import annotations

from typing import Any

import numpy as np

from aihep.pid.detectors import SPECIES

P_EDGES_GEV = (0.15, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 20.0)
"""Momentum bins [GeV/c] of the efficiency and purity curves."""


def f1_scores(probabilities: np.ndarray, species: np.ndarray) -> dict[str, Any]:
    """Macro F1 and F1 per species of the most probable class."""
    from sklearn.metrics import f1_score

    predicted = probabilities.argmax(1)
    per = f1_score(species, predicted, labels=range(len(SPECIES)), average=None,
                   zero_division=0)
    return {"f1_macro": float(np.mean(per)),
            "f1_per_species": {s: float(v) for s, v in zip(SPECIES, per, strict=True)}}


def confusion(predicted: np.ndarray, species: np.ndarray) -> list[list[int]]:
    """Counts [true species][predicted species]."""
    k = len(SPECIES)
    return np.bincount(species * k + predicted, minlength=k * k).reshape(k, k).tolist()


def efficiency_purity(predicted: np.ndarray, species: np.ndarray, p_gev: np.ndarray,
                      edges: tuple[float, ...] = P_EDGES_GEV) -> dict[str, Any]:
    """Per species and momentum bin: efficiency (true tracks identified as their species)
    and purity (tracks identified as the species that are of it); NaN where a bin has no
    track of the kind."""
    bins = np.digitize(p_gev, edges) - 1
    out: dict[str, Any] = {"p_edges_gev": list(edges)}
    for k, name in enumerate(SPECIES):
        eff, pur, n_true = [], [], []
        for b in range(len(edges) - 1):
            here = bins == b
            true = here & (species == k)
            called = here & (predicted == k)
            hit = (true & called).sum()
            eff.append(float(hit / true.sum()) if true.any() else float("nan"))
            pur.append(float(hit / called.sum()) if called.any() else float("nan"))
            n_true.append(int(true.sum()))
        out[name] = {"efficiency": eff, "purity": pur, "tracks": n_true}
    return out


def detector_sets(present: dict[str, np.ndarray]) -> np.ndarray:
    """The name of each track's set of present detectors, e.g. "ITS+TPC+TOF", from
    ``present`` (detector name -> bool per track), in the order given."""
    names = list(present)
    n = len(next(iter(present.values())))
    out = np.full(n, "", dtype=object)
    for name in names:
        out = np.where(present[name], np.where(out == "", name, out + "+" + name), out)
    return np.where(out == "", "none", out).astype(str)


def pid_performance(probabilities: np.ndarray, species: np.ndarray, p_gev: np.ndarray,
                    has_tof: np.ndarray,
                    present: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """F1, confusion matrix and efficiency/purity curves for tracks with TOF, without and
    all; with ``present`` (detector name -> bool per track) also the F1 of each set of
    present detectors (``by_detectors``: tracks, and the F1 of the species present in that
    set and their mean)."""
    predicted = probabilities.argmax(1)
    out: dict[str, Any] = {}
    if present is not None:
        sets = detector_sets(present)
        out["by_detectors"] = {}
        for name in sorted(set(sets.tolist()), key=lambda k: -(sets == k).sum()):
            keep = sets == name
            scores = f1_scores(probabilities[keep], species[keep])["f1_per_species"]
            seen = {s: v for k, (s, v) in enumerate(scores.items())
                    if (species[keep] == k).any()}  # F1 of an absent species is undefined
            out["by_detectors"][name] = {
                "tracks": int(keep.sum()), "f1_per_species": seen,
                "f1_macro": float(np.mean(list(seen.values()))) if seen else None}
    for name, keep in (("with_tof", has_tof), ("without_tof", ~has_tof),
                       ("all", np.ones(len(species), bool))):
        if not keep.any():
            continue
        out[name] = {"tracks": int(keep.sum()),
                     **f1_scores(probabilities[keep], species[keep]),
                     "confusion": confusion(predicted[keep], species[keep]),
                     "efficiency_purity": efficiency_purity(predicted[keep], species[keep],
                                                            p_gev[keep])}
    return out
