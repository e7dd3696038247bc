"""Upper limits (CLs) on the yield of a resonance of given mass, with pyhf, when nothing is found.

For a mass hypothesis m the model is: background from a dijet fit of the spectrum that
excludes the bins within +-2 sigma(m) of m (a fit of all bins absorbs part of a real signal
and would exclude it), with a per-bin uncertainty from masked refits of Poisson fluctuations
of that fit (one nuisance parameter, correlated across the window: the interpolation under
the window moves all its bins together), plus a signal template (Gaussian or crystal ball
of width sigma(m)) scaled by the parameter of interest. Only bins within +-3 sigma of m
enter. The limit is on the number of signal events in the spectrum that was fitted: on a
spectrum after an anomaly cut, that is the selected yield (the selection efficiency of an
unknown signal is unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aihep import DEFAULT_SEED
from aihep.discovery.dijet import fit_dijet, select_dijet_fit
from aihep.discovery.extraction import SignalShape, signal_bin_fractions
from aihep.errors import InputError


@dataclass(frozen=True)
class UpperLimit:
    """Observed and expected upper limits on the signal yield (events) at one mass."""

    mass_gev: float
    width_gev: float
    cl: float
    observed: float
    expected: float
    expected_band: tuple[float, float, float, float]  # -2, -1, +1, +2 sigma

    def to_dict(self) -> dict[str, Any]:
        return {"mass_gev": self.mass_gev, "width_gev": self.width_gev, "cl": self.cl,
                "observed": self.observed, "expected": self.expected,
                "expected_minus2": self.expected_band[0],
                "expected_minus1": self.expected_band[1],
                "expected_plus1": self.expected_band[2],
                "expected_plus2": self.expected_band[3]}


def cls_upper_limit(observed: np.ndarray, background: np.ndarray,
                    background_uncertainty: np.ndarray, signal: np.ndarray,
                    cl: float = 0.95) -> tuple[float, np.ndarray]:
    """CLs upper limit on mu for counts ~ Poisson(mu * signal + background + theta * error).

    Args:
        observed, background, background_uncertainty, signal: per-bin arrays (k,) in events;
            the background uncertainty is one fully correlated shift (Gaussian theta).
        cl: confidence level.
    Returns:
        (observed limit on mu, expected limits on mu at -2, -1, 0, +1, +2 sigma).
    """
    import pyhf
    from pyhf.infer.intervals.upper_limits import upper_limit

    observed = np.asarray(observed, float)
    background = np.maximum(np.asarray(background, float), 1e-3)
    uncertainty = np.maximum(np.asarray(background_uncertainty, float), 1e-3 * background)
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=False))
    # pyhf logs a failed fit with its traceback before raising; the caller handles the
    # exception, so the user sees no traceback (seen in a background-only agent run)
    log = logging.getLogger("pyhf")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        # One nuisance parameter moves every bin by its uncertainty together: the error of
        # a fitted background is fully correlated across a narrow window (uncorrelated
        # per-bin errors would understate it by ~sqrt(bins) and undercover).
        lo = np.maximum(background - uncertainty, 1e-6)
        spec = {"channels": [{"name": "mjj", "samples": [
            {"name": "signal", "data": np.asarray(signal, float).tolist(),
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": background.tolist(),
             "modifiers": [{"name": "background_fit", "type": "histosys",
                            "data": {"hi_data": (background + uncertainty).tolist(),
                                     "lo_data": lo.tolist()}}]}]}]}
        model = pyhf.Model(spec, poi_name="mu")
        data = np.concatenate([observed, model.config.auxdata])
        bounds = model.config.suggested_bounds()
        poi = model.config.par_slice(model.config.poi_name).start
        # A grid scan (31 hypotests) is ~2x cheaper than root finding for all six limits;
        # the grid is widened until it contains the observed and +2 sigma limits.
        top = 4.0
        for _ in range(4):
            bounds[poi] = (0.0, 2 * top)
            obs, exp = upper_limit(data, model, np.linspace(0.0, top, 31), level=1.0 - cl,
                                   par_bounds=bounds, test_stat="qtilde")
            if max(float(obs), float(exp[-1])) < 0.97 * top:
                break
            top *= 3.0
    finally:
        pyhf.set_backend(*previous)
        log.setLevel(level)
    return float(obs), np.asarray(exp, float)


def background_uncertainty(edges_gev: np.ndarray, expected: np.ndarray, n_params: int,
                           mask: np.ndarray | None = None, n_refits: int = 30,
                           seed: int = DEFAULT_SEED) -> np.ndarray:
    """Per-bin spread of the (masked) dijet-fit prediction over refits of Poisson
    fluctuations of ``expected``."""
    rng = np.random.default_rng(seed)
    predictions = [fit_dijet(edges_gev, rng.poisson(expected), n_params=n_params,
                             mask=mask).expected for _ in range(n_refits)]
    return np.std(predictions, axis=0)


def resonance_limits(mjj_gev: np.ndarray, edges_gev: np.ndarray,
                     masses_gev: np.ndarray | Sequence[float],
                     relative_width: float = 0.05, shape: SignalShape = "gaussian",
                     cl: float = 0.95, seed: int = DEFAULT_SEED) -> list[UpperLimit]:
    """CLs upper limits on the signal yield for each mass hypothesis.

    Args:
        mjj_gev: dijet masses (n,) of the spectrum (e.g. after an anomaly cut), GeV.
        edges_gev: binning (the fit range).
        masses_gev: mass hypotheses (GeV); the signal width is ``relative_width`` x mass.
        shape: ``gaussian`` or ``crystal-ball`` signal template.
        cl: confidence level; seed: background-uncertainty refits.
    """
    edges = np.asarray(edges_gev, float)
    counts = np.histogram(np.asarray(mjj_gev, float), edges)[0]
    if counts.sum() < 10:
        raise InputError("spectrum", "events", "at least 10 events in the fit range for limits")
    n_params = select_dijet_fit(edges, counts)[0].n_params
    centres = 0.5 * (edges[1:] + edges[:-1])
    limits = []
    for mass in np.asarray(masses_gev, float):
        width = relative_width * mass
        use = np.abs(centres - mass) <= 3 * width
        if use.sum() < 2:
            use = np.isin(np.arange(len(centres)), np.argsort(np.abs(centres - mass))[:3])
        sidebands = np.abs(centres - mass) > 2 * width
        fit = fit_dijet(edges, counts, n_params=n_params, mask=sidebands)
        sigma_b = background_uncertainty(edges, fit.expected, n_params, sidebands, seed=seed)
        fractions = signal_bin_fractions(edges, mass, width, shape)[use]
        # template scaled to ~the expected reach so the POI is O(1)
        scale = 2.0 * np.sqrt(fit.expected[use].sum()) + 3.0
        obs, exp = cls_upper_limit(counts[use], fit.expected[use], sigma_b[use],
                                   scale * fractions, cl)
        limits.append(UpperLimit(float(mass), float(width), cl, obs * scale,
                                 float(exp[2] * scale),
                                 (float(exp[0] * scale), float(exp[1] * scale),
                                  float(exp[3] * scale), float(exp[4] * scale))))
    return limits
