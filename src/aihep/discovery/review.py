"""The reviewer: deterministic checks a bump must pass before it is called a discovery.

Defined before anything is scored (the Agents-of-Discovery "reviewer" role), each check is a
pure function of the hunt's arrays and returns a :class:`Check`:

* ``window``: the fitted resonance lies inside the signal region the classifier was trained
  in. A cut learnt in one window and a bump found in another is how sculpting shows up (all
  the false claims seen on blind tasks had it; the true finds did not).
* ``yield``: the excess is positive: more events than the background fit in the bump window,
  and a positive fitted signal after the cut (a one-sided question: a deficit is no signal).
* ``background_fit``: the dijet function describes the selected spectrum in its sidebands (the
  bump window and the fitted resonance +- 2.5 widths left out, so a large signal does not fail
  it): Poisson deviance over bins with >= 10 expected events. If it does not, no bump-hunt
  p-value is credible.
* ``smooth_selection``: the fraction of events the cut keeps varies smoothly with mjj in the
  sidebands (a quadratic describes it): a cut that sculpts the spectrum makes steps there.
* ``second_opinion``: another method (or the same with another seed) retrained in the same
  window agrees on the mass and the total yield within 2 sigma (it need not be significant);
  with several retrainings (seeds), their medians (:func:`median_opinion`).
* ``reference_selection`` (with a background-only reference and a method that never trained
  on it: CWoLa, CATHODE): the same cut applied to the reference, normalized to the data in the
  sidebands, predicts the selected data under the resonance; the data must exceed it by
  >= 2 sigma, else the excess is what the cut does to background.

:func:`review` runs them all; a claim needs every one to pass. Thresholds are module
constants, fixed before any benchmark was run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from aihep.discovery.dijet import fit_dijet

#: p-value below which a background description (the dijet fit, the smooth selection) fails
P_GOODNESS = 1e-3
#: expected background events per bin entering a deviance (chi2 asymptotics hold above)
MIN_EXPECTED_PER_BIN = 10.0
#: half-width, in fitted signal widths, of the region the sideband checks leave out
SIGNAL_HALF_WIDTH = 2.5
#: significance the data must reach over the reference's selected, sideband-normalized shape
Z_REFERENCE = 2.0


@dataclass(frozen=True)
class Check:
    """One reviewer check: its name, whether it passed, why, and the numbers behind it."""

    name: str
    passed: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail,
                "values": self.values}


@dataclass(frozen=True)
class Review:
    """All checks of one candidate; ``passed`` only when every check passed."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed,
                "checks": [c.to_dict() for c in self.checks]}


def check_window(trained_gev: tuple[float, float], mass_gev: float | None,
                 bump_gev: tuple[float, float]) -> Check:
    """The resonance (fitted mass, else the bump window's centre) lies in the trained window."""
    lo, hi = trained_gev
    where = mass_gev if mass_gev is not None and np.isfinite(mass_gev) else 0.5 * (
        bump_gev[0] + bump_gev[1])
    inside = lo <= where <= hi
    detail = (f"resonance at {where:.0f} GeV inside the classifier's window "
              f"{lo:.0f}-{hi:.0f} GeV" if inside else
              f"resonance at {where:.0f} GeV outside the window {lo:.0f}-{hi:.0f} GeV the "
              "classifier was trained in: a cut learnt elsewhere can sculpt a bump")
    return Check("window", bool(inside), detail, {"mass_gev": float(where),
                                                  "trained_window_gev": [lo, hi]})


def check_yield(observed: float, expected: float, n_signal_selected: float | None,
                n_signal_error: float | None) -> Check:
    """A positive excess: observed above the background fit and a positive fitted signal."""
    if n_signal_selected is None or not np.isfinite(n_signal_selected):
        return Check("yield", False, "no signal fit of the selected spectrum",
                     {"observed": observed, "expected": expected})
    excess = observed - expected
    ok = excess > 0 and n_signal_selected > 0
    detail = (f"excess {excess:+.1f} events in the bump window, fitted signal "
              f"{n_signal_selected:+.1f} +- {n_signal_error or 0:.1f} after the cut")
    if not ok:
        detail += ": a deficit or a negative signal is not a resonance"
    return Check("yield", bool(ok), detail, {"excess": excess,
                                             "n_signal_selected": n_signal_selected,
                                             "n_signal_selected_error": n_signal_error})


def _deviance_pvalue(counts: np.ndarray, expected: np.ndarray, n_params: int
                     ) -> tuple[float, int, float]:
    """(Poisson deviance, ndof, p) over bins with >= MIN_EXPECTED_PER_BIN expected."""
    use = expected >= MIN_EXPECTED_PER_BIN
    n, mu = counts[use], expected[use]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(n / mu), 0.0) - (n - mu)
    deviance = float(2 * terms.sum())
    ndof = int(use.sum()) - n_params
    if ndof < 1:
        return deviance, ndof, float("nan")
    return deviance, ndof, float(stats.chi2.sf(deviance, ndof))


def check_background_fit(edges_gev: np.ndarray, counts: np.ndarray,
                         bump_gev: tuple[float, float], n_params: int = 3,
                         sqrt_s_gev: float = 13000.0) -> Check:
    """The dijet function fits the selected spectrum outside the bump window."""
    centres = 0.5 * (edges_gev[1:] + edges_gev[:-1])
    sidebands = (centres < bump_gev[0]) | (centres > bump_gev[1])
    untestable = Check("background_fit", True, f"fewer than {n_params + 1} sideband bins "
                       f"with >= {MIN_EXPECTED_PER_BIN:g} selected events: the background "
                       "fit cannot be tested (a tight cut; the bump hunt's toys still "
                       "calibrate its p-value)", {"ndof": 0})
    if np.sum(counts[sidebands] >= MIN_EXPECTED_PER_BIN) < n_params + 1:
        return untestable
    fit = fit_dijet(edges_gev, counts, sqrt_s_gev, n_params, mask=sidebands)
    deviance, ndof, p = _deviance_pvalue(counts[sidebands], fit.expected[sidebands],
                                         n_params)
    if not np.isfinite(p):
        return untestable
    ok = fit.valid and p >= P_GOODNESS
    detail = (f"sideband fit of the selected spectrum: deviance {deviance:.1f} for {ndof} "
              f"dof, p = {p:.2g}")
    if not ok:
        detail += (f" < {P_GOODNESS:g}: the background model fails, no bump-hunt p-value is "
                   "credible")
    return Check("background_fit", bool(ok), detail, {"deviance": deviance, "ndof": ndof,
                                                      "p_value": p, "valid": fit.valid})


def check_smooth_selection(mjj_gev: np.ndarray, selected: np.ndarray, edges_gev: np.ndarray,
                           bump_gev: tuple[float, float]) -> Check:
    """The cut's efficiency per mjj bin is a smooth (quadratic) function in the sidebands.

    Bins outside the bump window with >= MIN_EXPECTED_PER_BIN selected events; a weighted
    quadratic fit with binomial errors; fails below P_GOODNESS.
    """
    total, _ = np.histogram(mjj_gev, edges_gev)
    kept, _ = np.histogram(mjj_gev[selected], edges_gev)
    centres = 0.5 * (edges_gev[1:] + edges_gev[:-1])
    use = ((centres < bump_gev[0]) | (centres > bump_gev[1])) & (
        kept >= MIN_EXPECTED_PER_BIN) & (total > kept)
    if use.sum() < 5:
        return Check("smooth_selection", True, "fewer than 5 populated sideband bins: the "
                     "selection's smoothness cannot be tested", {"bins": int(use.sum())})
    eff = kept[use] / total[use]
    sigma = np.sqrt(eff * (1 - eff) / total[use])
    x = (centres[use] - centres[use].mean()) / max(np.ptp(centres[use]), 1.0)
    design = np.column_stack([np.ones_like(x), x, x * x]) / sigma[:, None]
    coef, *_ = np.linalg.lstsq(design, eff / sigma, rcond=None)
    chi2 = float(np.sum((design @ coef - eff / sigma) ** 2))
    ndof = int(use.sum()) - 3
    p = float(stats.chi2.sf(chi2, ndof))
    ok = p >= P_GOODNESS
    detail = f"selection efficiency vs mjj in the sidebands: chi2 {chi2:.1f} / {ndof}, p = {p:.2g}"
    if not ok:
        detail += ": the cut sculpts the spectrum (steps in its efficiency)"
    return Check("smooth_selection", bool(ok), detail, {"chi2": chi2, "ndof": ndof,
                                                        "p_value": p})


def signal_region(bump_gev: tuple[float, float], mass_gev: float | None,
                  width_gev: float | None) -> tuple[float, float]:
    """What the sideband checks leave out: the bump window and, with a signal fit, the
    resonance +- SIGNAL_HALF_WIDTH widths (its tails would fail a background-only test)."""
    if mass_gev is None or width_gev is None or not np.isfinite(mass_gev * width_gev):
        return bump_gev
    return (min(bump_gev[0], mass_gev - SIGNAL_HALF_WIDTH * abs(width_gev)),
            max(bump_gev[1], mass_gev + SIGNAL_HALF_WIDTH * abs(width_gev)))


def check_reference_selection(mjj_gev: np.ndarray, selected: np.ndarray,
                              reference_mjj_gev: np.ndarray, reference_selected: np.ndarray,
                              edges_gev: np.ndarray, excluded_gev: tuple[float, float]
                              ) -> Check:
    """The same cut on the background-only reference, normalized to the data in the
    sidebands, predicts the selected data in the signal region; the data must exceed that
    prediction by >= Z_REFERENCE (errors: Poisson of data and reference, and the
    normalization's)."""
    data, _ = np.histogram(mjj_gev[selected], edges_gev)
    ref, _ = np.histogram(reference_mjj_gev[reference_selected], edges_gev)
    centres = 0.5 * (edges_gev[1:] + edges_gev[:-1])
    inside = (centres >= excluded_gev[0]) & (centres <= excluded_gev[1])
    d_side, r_side = float(data[~inside].sum()), float(ref[~inside].sum())
    if d_side < MIN_EXPECTED_PER_BIN or r_side < MIN_EXPECTED_PER_BIN:
        return Check("reference_selection", True, "too few selected sideband events in the "
                     "data or the reference to compare the selected shapes",
                     {"data_sidebands": d_side, "reference_sidebands": r_side})
    scale = d_side / r_side
    observed, r_in = float(data[inside].sum()), float(ref[inside].sum())
    predicted = scale * r_in
    variance = predicted + scale**2 * r_in + predicted**2 * (1 / d_side + 1 / r_side)
    z = (observed - predicted) / np.sqrt(max(variance, 1.0))
    ok = z >= Z_REFERENCE
    detail = (f"the same cut on the background-only reference predicts {predicted:.1f} "
              f"selected events in {excluded_gev[0]:.0f}-{excluded_gev[1]:.0f} GeV, the data "
              f"have {observed:.0f} (Z = {z:.1f})")
    if not ok:
        detail += (f" < {Z_REFERENCE:g}: the excess is what the cut does to background "
                   "(sculpting)")
    return Check("reference_selection", bool(ok), detail, {
        "predicted": predicted, "observed": observed, "z": float(z)})


Opinion = tuple[tuple[float, float], tuple[float, float]] | None


def median_opinion(opinions: list[Opinion]) -> Opinion:
    """One opinion from several retrainings (seeds): ``None`` (no peak) when more than half
    saw no peak, else the medians of the masses, yields and of their errors (value, error pairs),
    so a single lucky or unlucky seed neither makes nor breaks the check."""
    if not opinions:
        msg = "median_opinion needs at least one opinion"
        raise ValueError(msg)
    seen = [o for o in opinions if o is not None]
    if not seen or 2 * len(seen) < len(opinions):
        return None
    columns = np.array([[m[0], m[1], y[0], y[1]] for m, y in seen])
    mass_v, mass_e, yield_v, yield_e = np.median(columns, axis=0)
    return (float(mass_v), float(mass_e)), (float(yield_v), float(yield_e))


def check_second_opinion(label: str, mass: tuple[float, float] | None,
                         yield_: tuple[float, float] | None,
                         other_mass: tuple[float, float] | None,
                         other_yield: tuple[float, float] | None) -> Check:
    """Another method (or the same one with another seed) in the same window: its resonance
    mass and total yield must agree with the candidate's within 2 sigma (value, error pairs).
    It need not be significant on its own; when it finds no peak at all there is nothing to
    compare and the check passes, saying so."""
    if mass is None or yield_ is None:
        return Check("second_opinion", False, "the candidate has no signal fit to compare")
    if other_mass is None or other_yield is None:
        return Check("second_opinion", True, f"{label}: no peak to compare (a weaker method "
                     "may see nothing at a small signal fraction)", {"opinion": label})

    def pull(a: tuple[float, float], b: tuple[float, float]) -> float:
        return abs(a[0] - b[0]) / max(np.hypot(a[1], b[1]), 1e-9)

    z_mass, z_yield = pull(mass, other_mass), pull(yield_, other_yield)
    ok = z_mass <= 2.0 and z_yield <= 2.0
    detail = (f"{label}: mass {other_mass[0]:.0f} +- {other_mass[1]:.0f} GeV "
              f"({z_mass:.1f} sigma from the candidate), total yield {other_yield[0]:.0f} +- "
              f"{other_yield[1]:.0f} ({z_yield:.1f} sigma)")
    if not ok:
        detail += ": the two disagree"
    return Check("second_opinion", bool(ok), detail, {"opinion": label, "z_mass": z_mass,
                                                      "z_yield": z_yield})


def review(mjj_gev: np.ndarray, selected: np.ndarray, edges_gev: np.ndarray,
           trained_gev: tuple[float, float], bump_gev: tuple[float, float],
           observed: float, expected: float, mass_gev: float | None,
           n_signal_selected: float | None, n_signal_error: float | None,
           n_params: int = 3, width_gev: float | None = None,
           reference_mjj: np.ndarray | None = None,
           reference_selected: np.ndarray | None = None) -> Review:
    """Every deterministic check of one candidate (the best trial of a hunt); with the
    reference's selection (a method that never trained on it), the sculpting check too."""
    counts, _ = np.histogram(mjj_gev[selected], edges_gev)
    excluded = signal_region(bump_gev, mass_gev, width_gev)
    checks = [
        check_window(trained_gev, mass_gev, bump_gev),
        check_yield(observed, expected, n_signal_selected, n_signal_error),
        check_background_fit(edges_gev, counts.astype(float), excluded, n_params),
        check_smooth_selection(mjj_gev, selected, edges_gev, excluded),
    ]
    if reference_mjj is not None and reference_selected is not None:
        checks.append(check_reference_selection(mjj_gev, selected, reference_mjj,
                                                reference_selected, edges_gev, excluded))
    return Review(tuple(checks))
