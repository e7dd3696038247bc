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
