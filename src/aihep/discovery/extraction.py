"""Signal extraction: resonance mass, width and yield, and daughter jet-mass peaks.

1. After the anomaly cut, fit dijet background + signal (Gaussian, or a crystal ball with a
   power-law low-mass tail for final-state radiation and out-of-cone losses; tail fixed at
   alpha = 1, n = 3 in units of the core width) to the selected mjj spectrum: resonance mass
   and width with MINOS errors.
2. Before the cut the signal efficiency is unknown, so the total yield needs the events the
   cut rejected. Default (``total_yield="split"``): the selected and the rejected spectra are
   disjoint samples, so the total is the selected yield plus the yield of a fit of the
   rejected spectrum (own background, mass and width constrained by Gaussian penalties to the
   after-cut result), the rejected yield bounded at zero (a resonance cannot remove events:
   without the bound, a 0.3% signal under a 2%-level background mismodelling came out
   negative), errors added in quadrature. ``"inclusive"``: one fit of the uncut spectrum with
   the same constraints, the yield unbounded (the previous estimator, kept for comparison).
   With a background-only sample, the **spurious signal** (the yield the same fit, mass and
   width fixed, finds in that sample's uncut spectrum, scaled to the data) measures how well
   the dijet function describes a signal-free spectrum at this mass; the part of it beyond
   its own statistical error is added in quadrature to the yield's error.
3. The jet masses of the selected events in the resonance window peak at the daughter masses:
   Gaussian + exponential fits give mX and mY estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.special import expit, ndtr

from aihep.discovery.dijet import bin_integrals, fit_dijet
from aihep.errors import InputError


@dataclass(frozen=True)
class Estimate:
    """A value with asymmetric errors (lower < 0 < upper)."""

    value: float
    lower: float
    upper: float

    @property
    def error(self) -> float:
        return 0.5 * (self.upper - self.lower)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "error": self.error, "lower": self.lower,
                "upper": self.upper}


@dataclass(frozen=True)
class SignalFit:
    """Background + Gaussian fit of a binned mjj spectrum (GeV)."""

    mass: Estimate
    width: Estimate
    n_signal: Estimate
    background_params: np.ndarray
    expected_background: np.ndarray
    expected_signal: np.ndarray
    valid: bool

    def to_dict(self) -> dict[str, Any]:
        return {"mass_gev": self.mass.to_dict(), "width_gev": self.width.to_dict(),
                "n_signal": self.n_signal.to_dict(), "valid": self.valid}


SignalShape = Literal["gaussian", "crystal-ball"]
CB_ALPHA, CB_N = 1.0, 3.0  # crystal-ball tail: starts 1 sigma below the peak, power 3


def gaussian_bin_fractions(edges: np.ndarray, mass: float, width: float) -> np.ndarray:
    """Fraction of a Gaussian(mass, width) in each bin."""
    return ndtr((edges[1:] - mass) / width) - ndtr((edges[:-1] - mass) / width)


def signal_bin_fractions(edges: np.ndarray, mass: float, width: float,
                         shape: SignalShape = "gaussian") -> np.ndarray:
    """Fraction of the signal shape (peak ``mass``, core ``width``, GeV) in each bin."""
    if shape == "gaussian":
        return gaussian_bin_fractions(edges, mass, width)
    cdf = stats.crystalball.cdf(np.asarray(edges, float), CB_ALPHA, CB_N, loc=mass,
                                scale=width)
    return np.diff(cdf)


def fit_signal_plus_background(
    edges_gev: np.ndarray,
    counts: np.ndarray,
    mass_start_gev: float,
    width_start_gev: float | None = None,
    mass_constraint: tuple[float, float] | None = None,
    width_constraint: tuple[float, float] | None = None,
    sqrt_s_gev: float = 13000.0,
    n_bkg_params: int = 3,
    shape: SignalShape = "gaussian",
    min_signal: float | None = None,
) -> SignalFit:
    """Fit dijet background + signal with MINOS errors on mass, width and yield.

    Args:
        edges_gev, counts: the spectrum.
        mass_start_gev, width_start_gev: starting values (width default: 5% of the mass).
        mass_constraint, width_constraint: optional (mean, sigma) Gaussian penalties.
        shape: signal shape, ``gaussian`` or ``crystal-ball`` (low-mass tail).
        min_signal: optional lower bound on the yield (events), e.g. 0 for a physical yield;
            at the bound the lower error is what is left above it.
    """
    from iminuit import Minuit

    edges = np.asarray(edges_gev, float)
    counts = np.asarray(counts, float)
    bkg_fit = fit_dijet(edges, counts, sqrt_s_gev, n_bkg_params)
    saturated = np.where(counts > 0, counts * np.log(np.maximum(counts, 1.0)) - counts, 0.0)
    bin_width = float(np.median(np.diff(edges)))

    def model(ln_p0: float, bkg_shape: np.ndarray, n_sig: float, mass: float, width: float):
        bkg = np.exp(ln_p0) * bin_integrals(edges, np.concatenate([[1.0], bkg_shape]),
                                            sqrt_s_gev)
        return bkg, n_sig * signal_bin_fractions(edges, mass, width, shape)

    def nll(*p: float) -> float:
        ln_p0, bkg_shape, (n_sig, mass, width) = p[0], np.asarray(p[1:n_bkg_params]), p[-3:]
        with np.errstate(over="ignore", invalid="ignore"):
            bkg, sig = model(ln_p0, bkg_shape, n_sig, mass, width)
            mu = bkg + sig
        if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
            return 1e30
        value = float(np.sum(mu - counts * np.log(mu) + saturated))
        if mass_constraint is not None:
            value += 0.5 * ((mass - mass_constraint[0]) / mass_constraint[1]) ** 2
        if width_constraint is not None:
            value += 0.5 * ((width - width_constraint[0]) / width_constraint[1]) ** 2
        return value

    width0 = width_start_gev or 0.05 * mass_start_gev
    window = np.abs(0.5 * (edges[1:] + edges[:-1]) - mass_start_gev) < 2 * width0
    excess = max(float((counts - bkg_fit.expected)[window].sum()), 1.0)
    names = ["ln_p0"] + [f"p{i}" for i in range(1, n_bkg_params)] + ["n_sig", "mass", "width"]
    m = Minuit(nll, np.log(bkg_fit.params[0]), *bkg_fit.params[1:], excess, mass_start_gev,
               width0, name=names)
    m.errordef = Minuit.LIKELIHOOD
    m.limits["p1"] = (0.0, None)  # a falling background, as in fit_dijet
    m.limits["p2"] = (0.0, None)
    m.limits["mass"] = (edges[0], edges[-1])
    m.limits["width"] = (0.5 * bin_width, 0.5 * (edges[-1] - edges[0]))
    if min_signal is not None:
        m.values["n_sig"] = max(float(m.values["n_sig"]), min_signal + 1.0)
        m.limits["n_sig"] = (min_signal, None)
    m.migrad()
    m.hesse()
    estimates = {}
    for name in ("n_sig", "mass", "width"):
        value = float(m.values[name])
        try:
            m.minos(name)
            err = m.merrors[name]
            estimates[name] = Estimate(value, float(err.lower), float(err.upper))
        except RuntimeError:
            estimates[name] = Estimate(value, -float(m.errors[name]), float(m.errors[name]))
    values = np.array(m.values)
    bkg, sig = model(values[0], values[1:n_bkg_params], *values[-3:])
    # Statistical floors: a fit at a limit or a degenerate minimum reports errors no
    # measurement of S events can have (seen: +- 1 event on 231, +- 0.2 GeV on a few dozen).
    n_sig, mass, width = (float(values[-3]), float(values[-2]), abs(float(values[-1])))
    centres = 0.5 * (edges[1:] + edges[:-1])
    under_peak = float(bkg[np.abs(centres - mass) < 2 * width].sum())
    estimates["n_sig"] = _floored(estimates["n_sig"], np.sqrt(max(n_sig, 0.0) + under_peak))
    if min_signal is not None:  # the interval stops at the bound
        n = estimates["n_sig"]
        estimates["n_sig"] = Estimate(n.value, max(n.lower, min_signal - n.value), n.upper)
    estimates["mass"] = _floored(estimates["mass"], width / np.sqrt(max(n_sig, 1.0)))
    params = np.concatenate([[np.exp(values[0])], values[1:n_bkg_params]])
    return SignalFit(estimates["mass"], estimates["width"], estimates["n_sig"], params, bkg, sig,
                     bool(m.valid))


TotalYield = Literal["split", "inclusive"]


@dataclass(frozen=True)
class SignalExtraction:
    """Resonance estimates: after the cut (mass, width, selected yield) and before it (yield).

    ``before_cut`` describes the whole spectrum: with ``total_yield="split"`` it is the sum of
    the after-cut fit and ``rejected`` (the fit of the events the cut rejected), with the
    total yield; with ``"inclusive"`` the fit of the uncut spectrum.
    """

    after_cut: SignalFit
    before_cut: SignalFit
    #: spurious signal in a background-only sample, scaled to the data (events), or None
    spurious: Estimate | None = None
    #: fit of the rejected events' spectrum (``total_yield="split"``), else None
    rejected: SignalFit | None = None

    @property
    def mass(self) -> Estimate:
        return self.after_cut.mass

    @property
    def spurious_error(self) -> float:
        """The spurious signal beyond its own statistical error (events; 0 without one)."""
        if self.spurious is None:
            return 0.0
        return max(abs(self.spurious.value) - self.spurious.error, 0.0)

    @property
    def n_signal(self) -> Estimate:
        """Total signal in the data; errors: statistical (+) spurious signal in quadrature."""
        stat, extra = self.before_cut.n_signal, self.spurious_error
        return Estimate(stat.value, -float(np.hypot(stat.lower, extra)),
                        float(np.hypot(stat.upper, extra)))

    def to_dict(self) -> dict[str, Any]:
        out = {"m_res_gev": self.mass.to_dict(), "width_gev": self.after_cut.width.to_dict(),
               "n_signal": self.n_signal.to_dict(),
               "n_signal_statistical": self.before_cut.n_signal.to_dict(),
               "n_signal_selected": self.after_cut.n_signal.to_dict(),
               "total_yield": "split" if self.rejected is not None
               or self.before_cut is self.after_cut else "inclusive"}
        if self.rejected is not None:
            out["n_signal_rejected"] = self.rejected.n_signal.to_dict()
        if self.spurious is not None:
            out["spurious_signal"] = self.spurious.to_dict() | {
                "error_added": self.spurious_error}
        return out


def spurious_signal(extraction: SignalExtraction, reference_mjj_gev: np.ndarray,
                    edges_gev: np.ndarray, n_data: int, sqrt_s_gev: float = 13000.0,
                    shape: SignalShape = "gaussian") -> SignalExtraction:
    """``extraction`` with the spurious signal of a background-only sample.

    The signal-plus-background fit of the reference's uncut spectrum, mass and width
    constrained to the extraction's, gives a yield (any sign) that a signal-free spectrum
    fakes at this mass; scaled by n_data / n_reference. A failed fit leaves the extraction
    unchanged.
    """
    ref = np.asarray(reference_mjj_gev, float)
    counts, _ = np.histogram(ref, edges_gev)
    if counts.sum() < 10 or len(ref) == 0:
        return extraction
    width = extraction.after_cut.width
    bin_width = float(np.median(np.diff(edges_gev)))
    try:
        fit = fit_signal_plus_background(
            edges_gev, counts, extraction.mass.value, abs(width.value),
            mass_constraint=(extraction.mass.value, 0.01 * bin_width),
            width_constraint=(abs(width.value), 0.01 * bin_width), sqrt_s_gev=sqrt_s_gev,
            shape=shape)
    except (InputError, RuntimeError, ValueError):
        return extraction
    scale = n_data / len(ref)
    n = fit.n_signal
    spurious = Estimate(scale * n.value, scale * n.lower, scale * n.upper)
    return SignalExtraction(extraction.after_cut, extraction.before_cut, spurious,
                            extraction.rejected)


#: A weakly supervised classifier's evidence against the signal hypothesis is capped at
#: this likelihood ratio: below it, its estimate is noise (declared before any benchmark).
LIKELIHOOD_RATIO_FLOOR = 0.1


def signal_posterior(mjj_gev: np.ndarray, classifier_scores: np.ndarray, fit: SignalFit,
                     edges_gev: np.ndarray, window_gev: tuple[float, float],
                     shape: SignalShape = "gaussian") -> np.ndarray:
    """Probability that each event is signal, given a fitted resonance and a classifier.

    The odds are the product of a mass term and a feature term (taken as independent given
    the class):

    * mass: fitted signal density over fitted background density at the event's mjj
      (``fit`` is a signal-plus-background fit of the inclusive spectrum on ``edges_gev``);
    * features: the classifier, trained with balanced classes to tell the events of its
      signal region ``window_gev`` from background, estimates R(x) = p_SR(x) / p_bkg(x) =
      s / (1 - s). With a signal fraction f in that region, R = (1 - f) + f LR(x), so the
      signal-to-background likelihood ratio is LR(x) = (R - (1 - f)) / f, floored at
      :data:`LIKELIHOOD_RATIO_FLOOR`.

    Args:
        mjj_gev: dijet mass of every event (n,).
        classifier_scores: class-1 probability of every event (n,), each from a model that
            did not train on it.
    Returns:
        Posterior signal probability of each event, in (0, 1).
    """
    mjj = np.asarray(mjj_gev, float)
    s = np.clip(np.asarray(classifier_scores, float), 1e-6, 1 - 1e-6)
    if s.shape != mjj.shape:
        raise InputError("scores", "shape", f"one classifier score per event ({len(mjj)})")
    edges = np.asarray(edges_gev, float)
    mass, width = fit.mass.value, abs(fit.width.value)
    n_sig = max(fit.n_signal.value, 0.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    per_gev = np.maximum(fit.expected_background, 1e-12) / np.diff(edges)
    background = np.exp(np.interp(mjj, centres, np.log(per_gev)))
    if shape == "gaussian":
        log_density = stats.norm.logpdf(mjj, mass, width)
    else:
        log_density = stats.crystalball.logpdf(mjj, CB_ALPHA, CB_N, loc=mass, scale=width)
    lo, hi = window_gev
    n_window = max(int(((mjj >= lo) & (mjj < hi)).sum()), 1)
    in_window = float(signal_bin_fractions(np.array([lo, hi]), mass, width, shape)[0])
    f = float(np.clip(n_sig * in_window / n_window, 1e-4, 0.5))
    ratio = np.maximum((s / (1 - s) - (1 - f)) / f, LIKELIHOOD_RATIO_FLOOR)
    with np.errstate(divide="ignore"):
        log_odds = np.log(n_sig) + log_density - np.log(background) + np.log(ratio)
    return expit(np.maximum(log_odds, -700.0))


def _floored(estimate: Estimate, floor: float) -> Estimate:
    """``estimate`` with each error at least ``floor``."""
    if not np.isfinite(floor) or floor <= 0:
        return estimate
    return Estimate(estimate.value, min(estimate.lower, -floor), max(estimate.upper, floor))


def extract_signal(mjj_all_gev: np.ndarray, selected: np.ndarray, edges_gev: np.ndarray,
                   mass_start_gev: float, sqrt_s_gev: float = 13000.0,
                   shape: SignalShape = "gaussian",
                   total_yield: TotalYield = "split") -> SignalExtraction:
    """Estimate the resonance mass, width and total yield.

    Args:
        mjj_all_gev: dijet masses of all events (n,).
        selected: boolean mask (n,) of the events passing the anomaly cut.
        edges_gev: binning of both fits.
        mass_start_gev: starting mass, e.g. the centre of the bump hunt's best window.
        shape: signal shape of both fits.
        total_yield: ``"split"`` (selected yield + bounded rejected yield, the default) or
            ``"inclusive"`` (one unbounded fit of the uncut spectrum); see the module doc.
    """
    mjj = np.asarray(mjj_all_gev, float)
    selected = np.asarray(selected, bool)
    if selected.shape != mjj.shape:
        raise InputError("selection", "shape", f"a mask of {len(mjj)} events")
    if total_yield not in ("split", "inclusive"):
        raise InputError("extraction", "total_yield", "'split' or 'inclusive'")
    cut_counts, _ = np.histogram(mjj[selected], edges_gev)
    after = fit_signal_plus_background(edges_gev, cut_counts, mass_start_gev,
                                       sqrt_s_gev=sqrt_s_gev, shape=shape)
    # Floors keep the constraints finite when the after-cut fit ends at a limit (zero error).
    bin_width = float(np.median(np.diff(edges_gev)))
    constrained: dict[str, Any] = {
        "mass_constraint": (after.mass.value, max(after.mass.error, 0.1 * bin_width)),
        "width_constraint": (after.width.value, max(after.width.error, 0.1 * bin_width)),
        "sqrt_s_gev": sqrt_s_gev, "shape": shape}
    if total_yield == "inclusive":
        all_counts, _ = np.histogram(mjj, edges_gev)
        before = fit_signal_plus_background(edges_gev, all_counts, after.mass.value,
                                            after.width.value, **constrained)
        return SignalExtraction(after, before)
    rejected_counts, _ = np.histogram(mjj[~selected], edges_gev)
    if rejected_counts.sum() == 0:  # the cut kept everything: the selected yield is the total
        return SignalExtraction(after, after)
    rejected = fit_signal_plus_background(edges_gev, rejected_counts, after.mass.value,
                                          after.width.value, min_signal=0.0, **constrained)
    return SignalExtraction(after, _combined(after, rejected), rejected=rejected)


def _combined(after: SignalFit, rejected: SignalFit) -> SignalFit:
    """The whole spectrum from its disjoint selected and rejected parts: yields and
    expectations add, errors add in quadrature (the two fits share no events), mass and
    width are the after-cut fit's; the total's interval stops at zero."""
    a, r = after.n_signal, rejected.n_signal
    value = a.value + r.value
    lower = -float(np.hypot(a.lower, r.lower))
    if value > 0:
        lower = max(lower, -value)
    total = Estimate(value, lower, float(np.hypot(a.upper, r.upper)))
    return SignalFit(after.mass, after.width, total, rejected.background_params,
                     after.expected_background + rejected.expected_background,
                     after.expected_signal + rejected.expected_signal,
                     after.valid and rejected.valid)


def jet_mass_peak(masses_gev: np.ndarray, range_gev: tuple[float, float],
                  bins: int | None = None) -> Estimate:
    """Peak of a jet-mass distribution: Gaussian + exponential binned Poisson fit (MINOS).

    Args:
        masses_gev: jet masses of the selected events (n,).
        range_gev: fit range.
        bins: number of bins; default from the Freedman-Diaconis width of the data (20-200),
            so a narrow peak is resolved.
    Returns:
        the peak position; its error from MINOS, else HESSE, else sigma / sqrt(n_peak).
    """
    from iminuit import Minuit

    masses = np.asarray(masses_gev, float)
    masses = masses[np.isfinite(masses)]
    inside = masses[(masses >= range_gev[0]) & (masses <= range_gev[1])]
    if bins is None:
        q25, q75 = np.percentile(inside, [25, 75]) if len(inside) else (0.0, 1.0)
        width = 2.0 * max(q75 - q25, 1e-6) / max(len(inside), 1) ** (1 / 3)
        bins = int(np.clip(np.ceil((range_gev[1] - range_gev[0]) / width), 20, 200))
    counts, edges = np.histogram(masses, bins, range_gev)
    if counts.sum() < 10:
        raise InputError("selected events", "jet mass", f"at least 10 jets in {range_gev} GeV")
    saturated = np.where(counts > 0, counts * np.log(np.maximum(counts, 1.0)) - counts, 0.0)
    lo, hi = edges[0], edges[-1]

    def nll(n_bkg: float, slope: float, n_sig: float, mean: float, sigma: float) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            shape = np.exp(-slope * (edges - lo) / (hi - lo))
            bkg = (n_bkg * (shape[:-1] - shape[1:]) / max(shape[0] - shape[-1], 1e-12)
                   if abs(slope) > 1e-9 else n_bkg * np.diff(edges) / (hi - lo))
            mu = bkg + n_sig * gaussian_bin_fractions(edges, mean, sigma)
        if np.any(mu <= 0) or not np.all(np.isfinite(mu)):
            return 1e30
        return float(np.sum(mu - counts * np.log(mu) + saturated))

    centres = 0.5 * (edges[1:] + edges[:-1])
    peak = float(centres[np.argmax(counts)])
    total = float(counts.sum())
    m = Minuit(nll, 0.5 * total, 1.0, 0.5 * total, peak, 0.05 * (hi - lo) + 1.0)
    m.errordef = Minuit.LIKELIHOOD
    m.limits["n_sig"] = (0.0, None)
    m.limits["n_bkg"] = (0.0, None)
    m.limits["mean"] = (lo, hi)
    m.limits["sigma"] = (0.1 * (edges[1] - edges[0]), hi - lo)
    m.migrad()
    m.hesse()
    mean = float(m.values["mean"])
    floor = abs(float(m.values["sigma"])) / np.sqrt(max(float(m.values["n_sig"]), 1.0))
    try:
        m.minos("mean")
        err = m.merrors["mean"]
        if err.is_valid and err.upper > 0 and err.lower < 0:
            # never below sigma / sqrt(n): the mean of n jets cannot be known better
            return _floored(Estimate(mean, float(err.lower), float(err.upper)), floor)
    except RuntimeError:
        pass
    error = float(m.errors["mean"])
    if not (np.isfinite(error) and error > 0):  # degenerate fit: the statistical floor
        error = floor
    return _floored(Estimate(mean, -error, error), floor)
