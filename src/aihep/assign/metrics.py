"""Assignment efficiencies, invariant under the symmetries of the event (t1 <-> t2 and
q1 <-> q2 within a top).

A top is *correct* when its predicted b jet is the matched b jet and its two predicted
light jets are the matched ones (in either order). A top is *reconstructable* when its
three partons are matched to jets. Per event the better of the two top orderings counts.

* ``matched`` subset: events whose six partons are all matched; event efficiency = both
  tops correct.
* ``all`` subset: events with at least one reconstructable top; event efficiency = every
  reconstructable top correct.

Top efficiency: correct reconstructable tops over reconstructable tops. Errors are binomial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def four_momenta(events: Any) -> np.ndarray:
    """(N, J, 4) px, py, pz, E [GeV] of the jets of a :class:`JetEvents` (zeros where
    masked)."""
    pt, eta, phi, mass = (np.asarray(getattr(events, f), np.float64)
                          for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + np.maximum(mass, 0.0) ** 2)
    return np.where(events.mask[..., None], np.stack([px, py, pz, e], -1), 0.0)


def invariant_mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass [GeV] of (..., 4) px, py, pz, E (0 for space-like rounding)."""
    return np.sqrt(np.maximum(p[..., 3] ** 2 - (p[..., :3] ** 2).sum(-1), 0.0))


def reconstructed_tops(events: Any, assignment: np.ndarray) -> dict[str, np.ndarray]:
    """Per event and top (N, 2): ``top_mass``, ``top_pt`` [GeV], ``top_eta``, ``top_phi``
    [rad] of the assigned b q q' jets and ``w_mass`` [GeV] of the q q' pair; NaN for a top
    without three assigned jets."""
    p = four_momenta(events)
    rows = np.arange(len(events))[:, None]
    out: dict[str, list[np.ndarray]] = {k: [] for k in (
        "top_mass", "top_pt", "top_eta", "top_phi", "w_mass")}
    for first in (0, 3):
        idx = assignment[:, first:first + 3]
        ok = (idx >= 0).all(1)
        jets = p[rows, np.clip(idx, 0, None)]  # (N, 3, 4)
        top, w = jets.sum(1), jets[:, 1] + jets[:, 2]
        pt = np.hypot(top[:, 0], top[:, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            eta = np.arcsinh(np.where(pt > 0, top[:, 2] / pt, np.nan))
        values = {"top_mass": invariant_mass(top), "top_pt": pt, "top_eta": eta,
                  "top_phi": np.arctan2(top[:, 1], top[:, 0]), "w_mass": invariant_mass(w)}
        for key, value in values.items():
            out[key].append(np.where(ok, value, np.nan))
    return {k: np.stack(v, 1) for k, v in out.items()}


def _top_correct(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N,) a predicted top (b, q1, q2) equals a target top."""
    same_b = pred[:, 0] == target[:, 0]
    same_q = (np.sort(pred[:, 1:], axis=1) == np.sort(target[:, 1:], axis=1)).all(1)
    return same_b & same_q & (target >= 0).all(1)


def predicted_top_correct(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N, 2): each predicted top (t1, t2 of the prediction) equals one of the target
    tops."""
    tops = (predictions[:, :3], predictions[:, 3:])
    return np.stack([_top_correct(p, targets[:, :3]) | _top_correct(p, targets[:, 3:])
                     for p in tops], 1)


def top_matches(predictions: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event and target top (N, 2): correct under the better ordering, reconstructable."""
    p1, p2 = predictions[:, :3], predictions[:, 3:]
    t1, t2 = targets[:, :3], targets[:, 3:]
    straight = np.stack([_top_correct(p1, t1), _top_correct(p2, t2)], 1)
    swapped = np.stack([_top_correct(p2, t1), _top_correct(p1, t2)], 1)
    better = swapped.sum(1) > straight.sum(1)
    correct = np.where(better[:, None], swapped, straight)
    reconstructable = np.stack([(t1 >= 0).all(1), (t2 >= 0).all(1)], 1)
    return correct, reconstructable


def _binomial(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    return p, float(np.sqrt(max(p * (1 - p), 1.0 / n) / n))


def efficiencies(predictions: np.ndarray, targets: np.ndarray, n_jets: np.ndarray,
                 method: str, seed: int | None = None) -> list[dict[str, Any]]:
    """Rows ``{method, njets ("6", "7", ">=8", "all"), subset ("matched", "all"),
    event_efficiency, event_efficiency_error, top_efficiency, top_efficiency_error,
    events, seed}``."""
    correct, reconstructable = top_matches(predictions, targets)
    rows = []
    groups: Sequence[tuple[str, np.ndarray]] = (
        ("6", n_jets == 6), ("7", n_jets == 7), (">=8", n_jets >= 8),
        ("all", np.ones(len(n_jets), bool)))
    for label, in_group in groups:
        for subset in ("matched", "all"):
            if subset == "matched":
                keep = in_group & reconstructable.all(1)
                events_ok = correct[keep].all(1)
            else:
                keep = in_group & reconstructable.any(1)
                events_ok = (correct | ~reconstructable)[keep].all(1)
            tops = reconstructable[keep]
            event, event_err = _binomial(int(events_ok.sum()), int(keep.sum()))
            top, top_err = _binomial(int(correct[keep][tops].sum()), int(tops.sum()))
            rows.append({"method": method, "njets": label, "subset": subset,
                         "event_efficiency": event, "event_efficiency_error": event_err,
                         "top_efficiency": top, "top_efficiency_error": top_err,
                         "events": int(keep.sum()), "seed": seed})
    return rows
