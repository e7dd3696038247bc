"""The likelihood reconstruction: Pandel time residuals maximized with iminuit.

For a track hypothesis (direction, a point, the time there) every cleaned hit DOM contributes
its first-hit time residual t - t_geo (:func:`aihep.reco.track.direct_time`) at photon path
d = rho / sin(theta_c):

- ``spe``: log of the convolved Pandel density of one photon, p(t_res | d);
- ``mpe``: the density of the earliest of the DOM's N photo-electrons, N p (1 - F)^(N - 1);

plus a small constant density (``noise_per_ns``) so a noise hit cannot dominate. The five fit
parameters are two tangent-plane angles of the direction around a reference direction, two
coordinates of the track point in the plane perpendicular to it (through the charge-weighted
centre of the hits for the first start), and the time at that point. SIMPLEX then MIGRAD
(fewer calls than MIGRAD alone) start from the line fit and then from ``restarts`` (<= 4)
directions turned by ``restart_angle_deg`` around the best fit so far; the best minimum is
kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.reco.events import DomSummary
from aihep.reco.linefit import line_fit
from aihep.reco.medium import Medium
from aihep.reco.pandel import PandelConfig, PandelTable, pandel_table
from aihep.reco.track import direct_time


class LikelihoodConfig(BaseModel):
    """Settings of the likelihood fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: Literal["spe", "mpe"] = "mpe"
    pandel: PandelConfig = Field(default_factory=PandelConfig)
    medium: Medium = Field(default_factory=Medium)
    noise_per_ns: float = Field(1e-5, gt=0)
    restarts: int = Field(0, ge=0, le=4, description=(
        "extra starts; on 40 events 1 restart left the median error unchanged (0.062 vs "
        "0.060 deg) at twice the time"))
    restart_angle_deg: float = Field(10.0, gt=0)
    min_doms: int = Field(5, ge=5, description="fewer cleaned hit DOMs: no fit")
    max_calls: int = Field(2000, ge=50)


@dataclass(frozen=True)
class TrackFit:
    """A reconstructed track: unit direction (3,), a point (3,) m, its time ns, and status
    (``ok``, ``too few hits`` or ``failed``)."""

    direction: np.ndarray
    point: np.ndarray
    time_ns: float
    status: str
    nll: float = float("nan")
    calls: int = 0


def _perpendicular_frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    return a, np.cross(d, a)


class _Objective:
    """-log L of one event as a function of x = (alpha, beta, u, v, t): direction
    normalize(d0 + alpha a + beta b), point centre + u a + v b (a, b perpendicular to the
    reference direction d0), t the time at that point (ns). Tangent-plane angles keep the
    problem well conditioned in every direction (no azimuth degeneracy at the poles)."""

    def __init__(self, doms: DomSummary, table: PandelTable, config: LikelihoodConfig) -> None:
        self.position, self.time, self.charge = doms.position, doms.first_time, doms.charge
        self.table, self.config = table, config
        self.calls = 0
        self.reference(np.array([0.0, 0.0, 1.0]), np.zeros(3))

    def reference(self, d0: np.ndarray, centre: np.ndarray) -> None:
        self.d0, self.centre = d0 / np.linalg.norm(d0), centre
        self.frame = _perpendicular_frame(self.d0)

    def track(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.frame
        d = self.d0 + x[0] * a + x[1] * b
        return d / np.linalg.norm(d), self.centre + x[2] * a + x[3] * b

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        if not np.all(np.isfinite(x)):
            return 1e30
        d, point = self.track(x)
        t_geo, path, _ = direct_time(point, d, x[4], self.position, self.config.medium)
        residual = self.time - t_geo
        if self.config.variant == "mpe":
            p = self.table.mpe_pdf_at(residual, path, self.charge)
        else:
            p = self.table.pdf_at(residual, path)
        return float(-np.log(p + self.config.noise_per_ns).sum())


def fit_track(doms: DomSummary, config: LikelihoodConfig | None = None) -> TrackFit:
    """Likelihood fit of one event's cleaned hit DOMs, seeded by the line fit."""
    from iminuit import Minuit

    config = config or LikelihoodConfig()
    nan3 = np.full(3, np.nan)
    if len(doms) < config.min_doms:
        return TrackFit(nan3, nan3, float("nan"), "too few hits")
    seed = line_fit(doms.position, doms.first_time)
    if not np.all(np.isfinite(seed.direction)):
        return TrackFit(nan3, nan3, float("nan"), "failed")
    objective = _Objective(doms, pandel_table(config.pandel), config)
    weights = doms.charge / doms.charge.sum()
    centre = (doms.position * weights[:, None]).sum(axis=0)
    t_geo, _, _ = direct_time(centre, seed.direction, 0.0, doms.position, config.medium)
    start = (seed.direction, centre, float(np.percentile(doms.first_time - t_geo, 25)))
    best: tuple[float, np.ndarray, np.ndarray, float] | None = None  # nll, d, point, t
    turns = [(1, 0), (-1, 0), (0, 1), (0, -1)][: config.restarts]
    for k in range(1 + len(turns)):
        if k > 0:  # turn the best direction so far
            assert best is not None
            a, b = _perpendicular_frame(best[1])
            angle = np.radians(config.restart_angle_deg)
            turned = np.cos(angle) * best[1] + np.sin(angle) * (turns[k - 1][0] * a
                                                                + turns[k - 1][1] * b)
            start = (turned, best[2], best[3])
        objective.reference(start[0], start[1])
        minuit = Minuit(objective, np.array([0.0, 0.0, 0.0, 0.0, start[2]]),
                        name=("alpha", "beta", "u", "v", "t"))
        minuit.errordef = Minuit.LIKELIHOOD
        minuit.errors = (0.02, 0.02, 5.0, 5.0, 10.0)
        minuit.strategy = 0
        minuit.tol = 1.0  # EDM < 2e-3: far below the angular resolution
        minuit.simplex(ncall=300)  # simplex first: fewer calls than MIGRAD alone from the seed
        minuit.migrad(ncall=config.max_calls)
        if np.isfinite(minuit.fval) and (best is None or minuit.fval < best[0]):
            d, point = objective.track(np.array(minuit.values))
            best = (float(minuit.fval), d, point, float(minuit.values[4]))
    if best is None:
        return TrackFit(nan3, nan3, float("nan"), "failed", calls=objective.calls)
    return TrackFit(best[1], best[2], best[3], "ok", best[0], objective.calls)
