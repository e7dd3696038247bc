"""The standard dijet background function and its binned Poisson fit (iminuit).

f(x) = p0 (1 - x)^p1 / x^(p2 + p3 ln x),  x = mjj / sqrt(s).

Expected counts are the integral of f over each bin (5-point Gauss-Legendre per bin), so
wide or uneven bins are handled correctly. p0 is fitted as ln p0 for numerical stability.
p1 and p2 are kept >= 0: a background must fall (with p3 = 0 the function is then monotonic);
without the limits the function can bend into a peak and absorb a signal in a pure selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from aihep.errors import InputError

_GL_X, _GL_W = np.polynomial.legendre.leggauss(5)


def dijet_function(x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """f(x) with params (p0, p1, p2[, p3]); x = mjj / sqrt(s) in (0, 1). Density per unit x."""
    p = np.zeros(4)
    p[: len(params)] = params
    lx = np.log(x)
    return p[0] * np.exp(p[1] * np.log1p(-x) - (p[2] + p[3] * lx) * lx)


def bin_integrals(edges_gev: np.ndarray, params: np.ndarray, sqrt_s_gev: float) -> np.ndarray:
    """Integral of f over each bin, shape (n_bins,): the expected counts."""
    lo, hi = edges_gev[:-1] / sqrt_s_gev, edges_gev[1:] / sqrt_s_gev
    half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
    x = mid[:, None] + half[:, None] * _GL_X[None, :]
    return (dijet_function(x, params) * _GL_W[None, :]).sum(axis=1) * half


def poisson_deviance(counts: np.ndarray, expected: np.ndarray) -> float:
    """2 sum(mu - n + n ln(n / mu)): -2 ln Poisson likelihood ratio to the saturated model."""
    mu = np.maximum(expected, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(counts > 0, counts * np.log(counts / mu), 0.0)
    return float(2.0 * np.sum(mu - counts + term))


@dataclass(frozen=True)
class DijetFit:
    """A fitted dijet function.

    Attributes:
        params: (p0, p1, p2[, p3]).
        errors: (n_params, 2) lower (negative) and upper MINOS errors when computed, else the
            symmetric HESSE errors. The parameters are strongly and non-linearly correlated
            (a curved valley): HESSE underestimates them several-fold, MINOS does not.
        edges_gev, counts: the fitted histogram (fit range only).
        expected: fitted counts per bin; deviance: Poisson deviance; ndof = bins - params.
        valid: iminuit's verdict on the minimum.
    """

    params: np.ndarray
    errors: np.ndarray
    sqrt_s_gev: float
    edges_gev: np.ndarray
    counts: np.ndarray
    expected: np.ndarray
    deviance: float
    ndof: int
    valid: bool

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def chi2_pvalue(self) -> float:
        """Goodness of fit: p-value of the deviance for ndof degrees of freedom."""
        return float(stats.chi2.sf(self.deviance, max(self.ndof, 1)))

    def predict(self, edges_gev: np.ndarray) -> np.ndarray:
        """Expected counts in other bins (GeV edges)."""
        return bin_integrals(np.asarray(edges_gev, float), self.params, self.sqrt_s_gev)

    def to_dict(self) -> dict[str, Any]:
        return {"n_params": self.n_params, "params": self.params.tolist(),
                "errors": self.errors.tolist(), "deviance": self.deviance, "ndof": self.ndof,
                "chi2_pvalue": self.chi2_pvalue, "valid": self.valid,
                "range_gev": [float(self.edges_gev[0]), float(self.edges_gev[-1])]}


_STARTS = {3: [(10.0, 5.0), (5.0, 8.0), (20.0, 3.0), (2.0, 12.0)]}


def fit_dijet(edges_gev: np.ndarray, counts: np.ndarray, sqrt_s_gev: float = 13000.0,
              n_params: int = 3, start: np.ndarray | None = None,
              minos: bool = False, mask: np.ndarray | None = None) -> DijetFit:
    """Maximum-likelihood fit of the dijet function to binned counts.

    Args:
        edges_gev: bin edges (n_bins + 1,), all below sqrt_s_gev.
        counts: observed counts (n_bins,).
        sqrt_s_gev: collision energy defining x = mjj / sqrt(s).
        n_params: 3 or 4.
        start: optional starting (p0, p1, p2[, p3]); several starts are tried otherwise.
        minos: compute MINOS (profile-likelihood) errors instead of HESSE ones.
        mask: optional boolean (n_bins,): only these bins enter the likelihood (e.g. a window
            excluded for a signal hypothesis); ``expected`` still covers every bin, the
            deviance and ndof only the fitted ones.
    """
    from iminuit import Minuit

    edges = np.asarray(edges_gev, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if n_params not in (3, 4):
        msg = f"n_params must be 3 or 4, got {n_params}"
        raise ValueError(msg)
    where = "histogram"
    if len(edges) != len(counts) + 1 or len(counts) <= n_params:
        raise InputError(where, "bins", f"more than {n_params} bins with edges = bins + 1")
    if edges[0] <= 0 or edges[-1] >= sqrt_s_gev or np.any(np.diff(edges) <= 0):
        raise InputError(where, "edges", f"increasing edges inside (0, {sqrt_s_gev} GeV)")
    use = np.ones(len(counts), bool) if mask is None else np.asarray(mask, bool)
    if use.shape != counts.shape or use.sum() <= n_params:
        raise InputError(where, "mask", f"a bin mask selecting more than {n_params} bins")
    total = counts[use].sum()
    if total <= 0:
        raise InputError(where, "counts", "at least one event in the fit range")

    def shape_integrals(shape: np.ndarray) -> np.ndarray:
        return bin_integrals(edges, np.concatenate([[1.0], shape]), sqrt_s_gev)

    saturated = np.where(counts > 0, counts * np.log(np.maximum(counts, 1.0)) - counts, 0.0)

    def nll(*p: float) -> float:  # half the Poisson deviance: O(n_bins), not O(n_events)
        shape = np.asarray(p[1:])
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(p[0]) * shape_integrals(shape)
        if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
            return 1e30
        return float(np.sum((mu - counts * np.log(mu) + saturated)[use]))

    starts: list[np.ndarray] = []
    if start is not None:
        s = np.asarray(start, dtype=float)
        starts.append(np.concatenate([s[1:n_params], np.zeros(n_params - len(s))])
                      if len(s) < n_params else s[1:n_params])
    starts += [np.array([a, b] + [0.0] * (n_params - 3)) for a, b in _STARTS[3]]
    best = None
    for shape in starts:
        norm = total / max(shape_integrals(shape)[use].sum(), 1e-300)  # profiled ln p0
        m = Minuit(nll, np.log(norm), *np.maximum(shape, [0.0, 0.0, -np.inf][: len(shape)]))
        m.errordef = Minuit.LIKELIHOOD
        m.limits[1] = (0.0, None)
        m.limits[2] = (0.0, None)
        m.strategy = 1
        m.migrad()
        if best is None or (m.valid and (not best.valid or m.fval < best.fval)):
            best = m
        if best.valid:
            break
    assert best is not None
    best.hesse()
    values = np.array(best.values)
    params = np.concatenate([[np.exp(values[0])], values[1:]])
    if minos and best.valid:
        best.minos()
        errors = np.array([[best.merrors[i].lower, best.merrors[i].upper]
                           for i in range(n_params)])
    else:
        errors = np.array(best.errors)[:, None] * np.array([[-1.0, 1.0]])
    errors[0] = params[0] * np.expm1(errors[0])  # p0 = exp(ln p0): map the ln p0 interval
    expected = bin_integrals(edges, params, sqrt_s_gev)
    return DijetFit(params, errors, sqrt_s_gev, edges, counts, expected,
                    poisson_deviance(counts[use], expected[use]), int(use.sum()) - n_params,
                    bool(best.valid))


def select_dijet_fit(edges_gev: np.ndarray, counts: np.ndarray, sqrt_s_gev: float = 13000.0,
                     alpha: float = 0.05) -> tuple[DijetFit, dict[str, float]]:
    """Fit with 3 parameters; add p3 only when an F-test asks for it.

    F = (D3 - D4) / (D4 / (n_bins - 4)) with F(1, n_bins - 4); Wilks' chi2(1) p-value of
    D3 - D4 is reported too. The 4-parameter fit is chosen when the F-test p-value < alpha and
    its density falls over the whole range (p3 can otherwise bend it into a peak).

    Returns:
        (chosen fit, {"f_stat", "f_pvalue", "wilks_pvalue", "n_params"}).
    """
    fit3 = fit_dijet(edges_gev, counts, sqrt_s_gev, 3)
    fit4 = fit_dijet(edges_gev, counts, sqrt_s_gev, 4, start=np.append(fit3.params, 0.0))
    d3, d4 = fit3.deviance, min(fit4.deviance, fit3.deviance)
    ndof4 = max(len(counts) - 4, 1)
    f_stat = (d3 - d4) / max(d4 / ndof4, 1e-12)
    f_p = float(stats.f.sf(f_stat, 1, ndof4))
    wilks_p = float(stats.chi2.sf(d3 - d4, 1))
    density = fit4.expected / np.diff(np.asarray(edges_gev, float))
    falling = bool(np.all(np.diff(density) <= 1e-9 * density[:-1]))
    chosen = fit4 if (f_p < alpha and fit4.valid and falling) else fit3
    return chosen, {"f_stat": float(f_stat), "f_pvalue": f_p, "wilks_pvalue": wilks_p,
                    "four_param_falling": falling, "n_params": chosen.n_params}
