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
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from aihep.reco.events import DomSummary
from aihep.reco.medium import Medium


@dataclass(frozen=True)
class LineFit:
    """Direction (3,), speed |v| (m/ns), and the charge-free centre (3,) and mean time (ns)
    (from :func:`line_fits`: arrays with a leading event axis)."""

    direction: np.ndarray
    speed_m_per_ns: Any
    centre: np.ndarray
    time_ns: Any


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
    fits = line_fits(position[None], time_ns[None], np.ones((1, len(time_ns)), bool), huber_m,
                     iterations)
    return LineFit(fits.direction[0], float(fits.speed_m_per_ns[0]), fits.centre[0],
                   float(fits.time_ns[0]))


def line_fits(position: np.ndarray, time_ns: np.ndarray, mask: np.ndarray,
              huber_m: float | None = 50.0, iterations: int = 5) -> LineFit:
    """:func:`line_fit` of many events at once from padded arrays: positions (n, P, 3) m,
    times (n, P) ns, mask (n, P) of real DOMs. Returns a :class:`LineFit` of arrays: direction
    (n, 3) (NaN without >= 2 distinct times), speed (n,), centre (n, 3), time (n,)."""
    weights = mask.astype(float)
    fit = _weighted_lines(position, time_ns, weights)
    for _ in range(iterations if huber_m else 0):
        v = np.nan_to_num(fit.direction) * fit.speed_m_per_ns[:, None]
        offset = position - fit.centre[:, None, :] - (time_ns - fit.time_ns[:, None]
                                                      )[..., None] * v[:, None, :]
        distance = np.linalg.norm(offset, axis=-1)
        weights = np.where(distance <= huber_m, 1.0, huber_m / np.maximum(distance, 1e-9))
        fit = _weighted_lines(position, time_ns, weights * mask)
    return fit


def _weighted_lines(position: np.ndarray, time_ns: np.ndarray, weights: np.ndarray) -> LineFit:
    total = weights.sum(1, keepdims=True)
    w = weights / np.where(total > 0, total, 1.0)
    t_mean = (w * time_ns).sum(1)
    centre = np.einsum("np,npi->ni", w, position)
    dt = time_ns - t_mean[:, None]
    denom = (w * dt**2).sum(1)
    v = np.einsum("np,npi->ni", w * dt, position - centre[:, None, :]) / np.where(
        denom > 0, denom, 1.0)[:, None]
    speed = np.linalg.norm(v, axis=1)
    good = (denom > 0) & (speed > 0) & ((weights > 0).sum(1) >= 2)
    direction = np.where(good[:, None], v / np.where(speed > 0, speed, 1.0)[:, None], np.nan)
    return LineFit(direction, np.where(good, speed, np.nan), centre, t_mean)
