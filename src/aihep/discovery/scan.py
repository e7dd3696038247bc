"""Sliding-window scans of a binned spectrum against a background expectation.

For each window (contiguous bins, widths min_width..max_width, every start bin), with n
observed and b expected events:

* local p-value (the BumpHunter one): P(N >= n | b) = gammainc(n, b) for n > b, else 1;
* local significance from the Poisson likelihood ratio: Z = sqrt(2 (n ln(n/b) - n + b)) for
  n > b, else 0;
* the BumpHunter test statistic of the spectrum: t = -ln(min p_local).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc


@dataclass(frozen=True)
class WindowScan:
    """All windows of a scan; arrays of shape (n_windows,)."""

    start: np.ndarray
    width: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    p_local: np.ndarray
    z_local: np.ndarray

    @property
    def best(self) -> int:
        """Index of the most significant window (smallest local p-value; ties: largest Z)."""
        order = np.lexsort((-self.z_local, self.p_local))
        return int(order[0])

    @property
    def bumphunter_t(self) -> float:
        """BumpHunter test statistic -ln(min p_local)."""
        return float(-np.log(max(self.p_local[self.best], 1e-300)))

    @property
    def max_z(self) -> float:
        return float(self.z_local.max()) if len(self.z_local) else 0.0


def poisson_lr_z(n: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed-for-excess likelihood-ratio significance; 0 where n <= b."""
    n = np.asarray(n, float)
    b = np.maximum(np.asarray(b, float), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 2.0 * (np.where(n > 0, n * np.log(n / b), 0.0) - n + b)
    return np.where(n > b, np.sqrt(np.maximum(q, 0.0)), 0.0)


def scan_windows(observed: np.ndarray, expected: np.ndarray, min_width: int = 1,
                 max_width: int | None = None, edges_gev: np.ndarray | None = None,
                 centre_range_gev: tuple[float, float] | None = None) -> WindowScan:
    """Scan every window of ``min_width``..``max_width`` bins (default max: half the bins).

    Args:
        observed: counts per bin (n_bins,).
        expected: background expectation per bin (n_bins,), > 0.
        edges_gev: bin edges (n_bins + 1,), GeV; needed with ``centre_range_gev``.
        centre_range_gev: scan only the windows whose centre lies in [lo, hi] GeV.
    """
    observed = np.asarray(observed, float)
    expected = np.asarray(expected, float)
    n_bins = len(observed)
    max_width = max(min_width, n_bins // 2) if max_width is None else min(max_width, n_bins)
    cum_n = np.concatenate([[0.0], np.cumsum(observed)])
    cum_b = np.concatenate([[0.0], np.cumsum(expected)])
    starts, widths = [], []
    for w in range(min_width, max_width + 1):
        s = np.arange(0, n_bins - w + 1)
        starts.append(s)
        widths.append(np.full(len(s), w))
    # no window fits when min_width exceeds the bins: an empty scan, the callers report it
    start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    width = np.concatenate(widths) if widths else np.zeros(0, np.int64)
    if centre_range_gev is not None:
        edges = np.asarray(edges_gev, float)
        centre = 0.5 * (edges[start] + edges[start + width])
        inside = (centre >= centre_range_gev[0]) & (centre <= centre_range_gev[1])
        start, width = start[inside], width[inside]
    n = cum_n[start + width] - cum_n[start]
    b = cum_b[start + width] - cum_b[start]
    excess = (n > b) & (b > 0)
    p = np.ones(len(n))
    p[excess] = gammainc(n[excess], b[excess])
    return WindowScan(start, width, n, b, p, poisson_lr_z(n, b))
