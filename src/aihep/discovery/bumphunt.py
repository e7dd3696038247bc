"""Bump hunt: dijet fit of the mjj spectrum, window scan, look-elsewhere-corrected p-value.

The global p-value comes from background-only pseudo-experiments: Poisson toys drawn from the
fitted background, each refitted with the same function and scanned over the same windows;
p_global = (1 + #toys with t >= t_obs) / (1 + n_toys), with t the BumpHunter statistic
-ln(min p_local) (the same window set for data and toys).

Beyond the reach of the toys (no toy as extreme as the data) the p-value is extrapolated with an
effective number of independent windows N_eff fitted to the toys: P(min p_local < p) =
1 - (1 - p)^N_eff (maximum likelihood: N_eff = n_toys / sum(-ln(1 - p_min,i))), so
p_global = 1 - (1 - p_local)^N_eff. ``p_global_method`` says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from aihep import DEFAULT_SEED
from aihep.discovery.dijet import DijetFit, fit_dijet, select_dijet_fit
from aihep.discovery.scan import WindowScan, scan_windows
from aihep.errors import InputError


@dataclass(frozen=True)
class BumpHuntResult:
    """Outcome of :func:`bump_hunt` (GeV for masses)."""

    edges_gev: np.ndarray
    counts: np.ndarray
    fit: DijetFit
    fit_test: dict[str, float]
    scan: WindowScan = field(repr=False)
    window_gev: tuple[float, float]
    observed: float
    expected: float
    p_local: float
    z_local: float
    bumphunter_t: float
    p_global: float
    z_global: float
    n_toys: int
    n_eff_trials: float
    p_global_method: str
    toy_t: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"window_gev": list(self.window_gev), "observed": self.observed,
                "expected": self.expected, "p_local": self.p_local, "z_local": self.z_local,
                "bumphunter_t": self.bumphunter_t, "p_global": self.p_global,
                "z_global": self.z_global, "n_toys": self.n_toys,
                "n_eff_trials": self.n_eff_trials, "p_global_method": self.p_global_method,
                "fit": self.fit.to_dict(),
                "fit_test": self.fit_test}


def effective_trials(p_min: np.ndarray) -> float:
    """N_eff of P(min p < p) = 1 - (1 - p)^N_eff, fitted (max. likelihood) to toy minima."""
    p = np.clip(np.asarray(p_min, float), 1e-300, 1.0 - 1e-12)
    return float(len(p) / np.sum(-np.log1p(-p)))


def default_edges(mjj_gev: np.ndarray, bin_width_gev: float = 100.0) -> np.ndarray:
    """Bins of ``bin_width_gev`` from just above the trigger turn-on to the highest mjj.

    The turn-on is taken as the bin with the most events in a histogram of the whole sample;
    the fit range starts at its upper edge, where the spectrum is falling.
    """
    lo = np.floor(mjj_gev.min() / bin_width_gev) * bin_width_gev
    hi = np.ceil(mjj_gev.max() / bin_width_gev) * bin_width_gev + bin_width_gev
    edges = np.arange(lo, hi + 0.5 * bin_width_gev, bin_width_gev)
    counts, _ = np.histogram(mjj_gev, edges)
    peak = int(np.argmax(counts))
    return edges[peak + 1 :]


def quiet_minuit() -> None:
    """Silence Minuit's C++ messages (non-positive-definite start matrices in toy fits...)."""
    from iminuit._core import MnPrint

    MnPrint.global_level = -1


def _check_mjj(mjj_gev: np.ndarray, source: str) -> np.ndarray:
    mjj = np.asarray(mjj_gev, dtype=float)
    if mjj.ndim != 1 or len(mjj) == 0:
        raise InputError(source, "mjj", "a non-empty 1-d array of dijet masses in GeV")
    if not np.all(np.isfinite(mjj)):
        raise InputError(source, "mjj", f"finite values ({int((~np.isfinite(mjj)).sum())} "
                         "are NaN or infinite)")
    return mjj


def bump_hunt(
    mjj_gev: np.ndarray,
    edges_gev: np.ndarray | None = None,
    sqrt_s_gev: float = 13000.0,
    n_toys: int = 200,
    min_width: int = 2,
    max_width: int | None = 8,
    n_params: int | None = None,
    seed: int = DEFAULT_SEED,
    source: str = "mjj",
    centre_range_gev: tuple[float, float] | None = None,
) -> BumpHuntResult:
    """Hunt for a localized excess in the dijet mass spectrum.

    Args:
        mjj_gev: dijet masses (n_events,), GeV.
        edges_gev: fit-range bin edges; default :func:`default_edges` (100 GeV bins).
        sqrt_s_gev: collision energy of the dijet function's x = mjj / sqrt(s).
        n_toys: background-only pseudo-experiments for the global p-value.
        min_width: narrowest window, in bins.
        max_width: widest window, in bins (None: up to the whole range).
        n_params: 3 or 4 to force the fit function; default: chosen by F-test.
        seed: seed of the pseudo-experiments.
        source: name used in error messages.
        centre_range_gev: scan (data and toys alike) only windows centred in [lo, hi] GeV,
            e.g. the signal region a classifier was trained in; the background fit still
            uses the whole range. Default: every window.

    Example:
        >>> result = bump_hunt(features["mjj"], n_toys=500, seed=1)
        >>> result.window_gev, result.z_local, result.z_global
    """
    mjj = _check_mjj(mjj_gev, source)
    edges = default_edges(mjj) if edges_gev is None else np.asarray(edges_gev, float)
    counts, _ = np.histogram(mjj, edges)
    if counts.sum() == 0:
        raise InputError(source, "mjj", f"events inside the fit range {edges[0]:g}-"
                         f"{edges[-1]:g} GeV")
    if n_params is None:
        chosen, test = select_dijet_fit(edges, counts, sqrt_s_gev)
        n_params = chosen.n_params
    else:
        test = {"n_params": n_params}
    fit = fit_dijet(edges, counts, sqrt_s_gev, n_params, minos=True)

    def scan_of(observed: np.ndarray, expected: np.ndarray) -> WindowScan:
        return scan_windows(observed, expected, min_width, max_width, edges,
                            centre_range_gev)

    scan = scan_of(counts, fit.expected)
    if len(scan.start) == 0:
        if centre_range_gev is None:
            raise InputError(source, "mjj", f"a fitted spectrum of at least min_width = "
                             f"{min_width} bins, got {len(counts)}")
        raise InputError(source, "centre_range_gev", f"a range holding window centres inside "
                         f"the fit range {edges[0]:g}-{edges[-1]:g} GeV, got "
                         f"{centre_range_gev[0]:g}-{centre_range_gev[1]:g} GeV")
    best = scan.best
    t_obs = scan.bumphunter_t

    quiet_minuit()
    rng = np.random.default_rng(seed)
    toy_t = np.empty(n_toys)
    for i in range(n_toys):
        toy = rng.poisson(fit.expected).astype(float)
        toy_fit = fit_dijet(edges, toy, sqrt_s_gev, fit.n_params, start=fit.params)
        toy_t[i] = scan_of(toy, toy_fit.expected).bumphunter_t
    n_eff = effective_trials(np.exp(-toy_t))
    n_above = int(np.sum(toy_t >= t_obs))
    if n_above > 0:
        p_global, method = (1.0 + n_above) / (1.0 + n_toys), "toys"
    else:
        p_local = float(np.exp(-t_obs))
        # at least one window: a fit to few, discrete toys can give N_eff < 1, which would
        # make the global p smaller than the local one
        p_global = float(-np.expm1(max(n_eff, 1.0) * np.log1p(-min(p_local, 1 - 1e-16))))
        p_global = min(p_global, 1.0 / (1.0 + n_toys))
        method = "trials-factor extrapolation"
    lo_bin, width = int(scan.start[best]), int(scan.width[best])
    return BumpHuntResult(
        edges_gev=edges, counts=counts, fit=fit, fit_test=test, scan=scan,
        window_gev=(float(edges[lo_bin]), float(edges[lo_bin + width])),
        observed=float(scan.observed[best]), expected=float(scan.expected[best]),
        p_local=float(scan.p_local[best]), z_local=float(scan.z_local[best]),
        bumphunter_t=t_obs, p_global=float(p_global), z_global=float(stats.norm.isf(p_global)),
        n_toys=n_toys, n_eff_trials=n_eff, p_global_method=method, toy_t=toy_t,
    )
