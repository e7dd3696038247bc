"""The chi2 permutation method for all-hadronic ttbar (the classical baseline).

Every assignment is tried: two b-tagged jets as the b quarks (b-tag aware), four other jets
as the W decay products, paired in all three ways and each pair attached to either b; the
one minimizing

    chi2 = sum over both tops of (m_bqq - m_t)^2 / sigma_t^2 + (m_qq - m_W)^2 / sigma_W^2

wins. The masses and resolutions are fitted on truth-matched tops of the training split
only (:func:`fit_masses`: median and half the central 68% interval). The cost grows as
C(n_jets - 2, 4): the method is exact but combinatorial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from aihep.assign.metrics import four_momenta, invariant_mass
from aihep.io.assignment import JetEvents


@dataclass(frozen=True)
class MassModel:
    """Top and W masses and resolutions [GeV] of matched jets."""

    m_top: float
    sigma_top: float
    m_w: float
    sigma_w: float

    def to_dict(self) -> dict[str, Any]:
        return {"m_top": self.m_top, "sigma_top": self.sigma_top, "m_w": self.m_w,
                "sigma_w": self.sigma_w}


def fit_masses(events: JetEvents) -> MassModel:
    """Masses and resolutions of truth-matched tops and Ws (use the training split only)."""
    p = four_momenta(events)
    rows = np.arange(len(events))
    tops, ws = [], []
    for first in (0, 3):
        idx = events.targets[:, first:first + 3]
        ok = np.all(idx >= 0, axis=1)
        if not ok.any():
            continue
        b, q1, q2 = (p[rows[ok], idx[ok, k]] for k in range(3))
        ws.append(invariant_mass(q1 + q2))
        tops.append(invariant_mass(b + q1 + q2))
    if not tops:
        from aihep.errors import ConfigError

        msg = "no fully matched top in the training events: cannot fit the masses"
        raise ConfigError(msg)

    def centre_width(x: np.ndarray) -> tuple[float, float]:
        lo, mid, hi = np.quantile(x, [0.5 - 0.6827 / 2, 0.5, 0.5 + 0.6827 / 2])
        return float(mid), float(0.5 * (hi - lo))

    m_t, s_t = centre_width(np.concatenate(tops))
    m_w, s_w = centre_width(np.concatenate(ws))
    return MassModel(m_t, s_t, m_w, s_w)


@numba.njit(cache=True)
def _inv_mass(p: np.ndarray, i: int, j: int, k: int) -> float:
    e = p[i, 3] + p[j, 3] + (p[k, 3] if k >= 0 else 0.0)
    x = p[i, 0] + p[j, 0] + (p[k, 0] if k >= 0 else 0.0)
    y = p[i, 1] + p[j, 1] + (p[k, 1] if k >= 0 else 0.0)
    z = p[i, 2] + p[j, 2] + (p[k, 2] if k >= 0 else 0.0)
    return np.sqrt(max(e * e - x * x - y * y - z * z, 0.0))


@numba.njit(cache=True)
def _best(p, n, btag, m_t, s_t, m_w, s_w):
    best = np.full(6, -1, np.int64)
    best_chi2 = np.inf
    tagged = np.array([j for j in range(n) if btag[j] > 0.5], np.int64)
    for a in range(len(tagged)):
        for c in range(a + 1, len(tagged)):
            b1, b2 = tagged[a], tagged[c]
            rest = np.array([j for j in range(n) if j != b1 and j != b2], np.int64)
            m = len(rest)
            for i1 in range(m):
                for i2 in range(i1 + 1, m):
                    for i3 in range(i2 + 1, m):
                        for i4 in range(i3 + 1, m):
                            q = (rest[i1], rest[i2], rest[i3], rest[i4])
                            for pairing in range(3):
                                if pairing == 0:
                                    w1, w2 = (q[0], q[1]), (q[2], q[3])
                                elif pairing == 1:
                                    w1, w2 = (q[0], q[2]), (q[1], q[3])
                                else:
                                    w1, w2 = (q[0], q[3]), (q[1], q[2])
                                mw1 = _inv_mass(p, w1[0], w1[1], -1)
                                mw2 = _inv_mass(p, w2[0], w2[1], -1)
                                for swap in range(2):
                                    ba, bb = (b1, b2) if swap == 0 else (b2, b1)
                                    chi2 = (((_inv_mass(p, ba, w1[0], w1[1]) - m_t) / s_t) ** 2
                                            + ((mw1 - m_w) / s_w) ** 2
                                            + ((_inv_mass(p, bb, w2[0], w2[1]) - m_t) / s_t)
                                            ** 2 + ((mw2 - m_w) / s_w) ** 2)
                                    if chi2 < best_chi2:
                                        best_chi2 = chi2
                                        best[0], best[1], best[2] = ba, w1[0], w1[1]
                                        best[3], best[4], best[5] = bb, w2[0], w2[1]
    return best, best_chi2


def chi2_assign(events: JetEvents, model: MassModel) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) predicted jet per parton (t1/b, q1, q2, t2/b, q1, q2; -1 when an event has
    fewer than 2 b-tags or 6 jets) and the (N,) minimum chi2."""
    p = four_momenta(events)
    out = np.full((len(events), 6), -1, np.int64)
    chi2 = np.full(len(events), np.inf)
    n_jets = events.n_jets
    for i in range(len(events)):
        out[i], chi2[i] = _best(p[i], int(n_jets[i]), events.btag[i].astype(np.float64),
                                model.m_top, model.sigma_top, model.m_w, model.sigma_w)
    return out, chi2
