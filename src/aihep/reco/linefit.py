"""Hit cleaning and the analytic line fit (the seed of the likelihood fit).

Cleaning keeps a hit DOM when another hit DOM within ``radius_m`` has a first-hit time
compatible with light travelling between them (|dt| <= distance / c_medium + slack): isolated
dark-noise hits are removed, hits along a track survive.

The line fit minimizes sum_i |r_i - (r + v (t_i - t_mean))|^2 over the first hits: v =
sum (r_i - r_mean)(t_i - t_mean) / sum (t_i - t_mean)^2 (a speed in m/ns), the direction is v /
|v|. It ignores the Cherenkov geometry, so it is biased but immediate. As IceCube's improved
line fit (NIM A 736 (2014) 143) it is made robust against the noise hits that survive
cleaning with a Huber loss (scale ``huber_m``), solved by iteratively reweighted least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from aihep.reco.events import DomSummary
from aihep.reco.medium import Medium


@dataclass(frozen=True)
class LineFit:
    """Direction (3,), speed |v| (m/ns), and the charge-free centre (3,) and mean time (ns)."""

    direction: np.ndarray
    speed_m_per_ns: float
    centre: np.ndarray
    time_ns: float


def causal_mask(doms: DomSummary, radius_m: float = 100.0, slack_ns: float = 10.0,
                medium: Medium | None = None) -> np.ndarray:
    """(n,) bool: DOMs causally connected to at least one other hit DOM within ``radius_m``."""
    medium = medium or Medium()
    if len(doms) < 2:
        return np.zeros(len(doms), dtype=bool)
    pairs = cKDTree(doms.position).query_pairs(radius_m, output_type="ndarray")  # sparse
    i, j = pairs[:, 0], pairs[:, 1]
    dist = np.linalg.norm(doms.position[i] - doms.position[j], axis=1)
    causal = np.abs(doms.first_time[i] - doms.first_time[j]) <= (
        dist / medium.photon_speed_m_per_ns + slack_ns)
    out = np.zeros(len(doms), dtype=bool)
    out[i[causal]] = True
    out[j[causal]] = True
    return out


def select(doms: DomSummary, mask: np.ndarray) -> DomSummary:
    """The DOMs where ``mask`` is true."""
    return DomSummary(doms.position[mask], doms.first_time[mask], doms.charge[mask],
                      doms.n_hits[mask], doms.first_hit[mask])


def line_fit(position: np.ndarray, time_ns: np.ndarray, huber_m: float | None = 50.0,
             iterations: int = 5) -> LineFit:
    """Line fit of hit positions (n, 3) m and times (n,) ns (needs >= 2 distinct times);
    ``huber_m=None`` gives the plain least-squares fit."""
    weights = np.ones(len(time_ns))
    fit = _weighted_line(position, time_ns, weights)
    for _ in range(iterations if huber_m else 0):
        if not np.all(np.isfinite(fit.direction)):
            break
        v = fit.direction * fit.speed_m_per_ns
        distance = np.linalg.norm(position - fit.centre - np.outer(time_ns - fit.time_ns, v),
                                  axis=1)
        weights = np.where(distance <= huber_m, 1.0, huber_m / np.maximum(distance, 1e-9))
        fit = _weighted_line(position, time_ns, weights)
    return fit


def _weighted_line(position: np.ndarray, time_ns: np.ndarray, weights: np.ndarray) -> LineFit:
    w = weights / weights.sum() if len(weights) else weights
    t_mean = float((w * time_ns).sum())
    centre = (w[:, None] * position).sum(axis=0)
    dt = time_ns - t_mean
    denom = float((w * dt**2).sum())
    if len(time_ns) < 2 or denom <= 0:
        return LineFit(np.full(3, np.nan), float("nan"), centre, t_mean)
    v = (w[:, None] * (position - centre) * dt[:, None]).sum(axis=0) / denom
    speed = float(np.linalg.norm(v))
    return LineFit(v / speed if speed > 0 else np.full(3, np.nan), speed, centre, t_mean)
