"""Angular resolution: opening angles in energy bins, failed fits, time per event."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aihep.reco.track import opening_angle

DEFAULT_BINS_TEV = (1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class Resolution:
    """Angular error of one method on a set of events.

    ``bins``: rows with the energy range (TeV), the number of fitted events and the median and
    68% quantile of the opening angle (degrees). ``failed_fraction``: events without a fit.
    """

    method: str
    n_events: int
    failed_fraction: float
    median_deg: float
    bins: list[dict[str, float]]
    seconds_per_event: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolution(method: str, reconstructed: np.ndarray, truth: np.ndarray,
               energy_tev: np.ndarray, seconds: float,
               bins_tev: tuple[float, ...] = DEFAULT_BINS_TEV) -> Resolution:
    """Resolution of directions (n, 3) (NaN rows: failed) against truth (n, 3)."""
    ok = np.all(np.isfinite(reconstructed), axis=1)
    angle = np.full(len(truth), np.nan)
    angle[ok] = np.degrees(opening_angle(reconstructed[ok].astype(float), truth[ok]))
    rows = []
    for lo, hi in itertools.pairwise(bins_tev):
        sel = ok & (energy_tev >= lo) & (energy_tev < hi)
        values = angle[sel]
        rows.append({"energy_min_tev": lo, "energy_max_tev": hi, "n": int(sel.sum()),
                     "median_deg": float(np.median(values)) if len(values) else float("nan"),
                     "q68_deg": float(np.quantile(values, 0.68)) if len(values) else
                     float("nan")})
    return Resolution(method, len(truth), float(1 - ok.mean()) if len(ok) else 0.0,
                      float(np.nanmedian(angle)) if ok.any() else float("nan"), rows,
                      seconds / max(len(truth), 1))


def emission_point_errors(predicted_m: np.ndarray, truth_m: np.ndarray,
                          directions: np.ndarray, mask: np.ndarray, charge: np.ndarray
                          ) -> dict[str, float]:
    """Errors of per-DOM emission points (n, P, 3) m against the truth (n, P, 3) m, split into
    the part perpendicular to the true track (unit directions (n, 3)), which moves the fitted
    line, and the part along it: medians over the DOMs in ``mask`` (n, P), the perpendicular
    one also weighted by the DOMs' charge (n, P) pe, as the line fit weights them (metres)."""
    error = np.asarray(predicted_m, float) - np.asarray(truth_m, float)
    along = np.einsum("npi,ni->np", error, directions)
    perp = np.sqrt(np.maximum((error**2).sum(-1) - along**2, 0.0))[mask]
    weights = np.asarray(charge, float)[mask]
    if perp.size == 0:
        return {"perp_median_m": float("nan"), "perp_charge_weighted_median_m": float("nan"),
                "along_median_m": float("nan")}
    order = np.argsort(perp)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    weighted = perp[order][min(np.searchsorted(cumulative, 0.5), len(perp) - 1)]
    return {"perp_median_m": float(np.median(perp)),
            "perp_charge_weighted_median_m": float(weighted),
            "along_median_m": float(np.median(np.abs(along[mask])))}
