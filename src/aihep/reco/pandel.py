"""The Gaussian-convolved Pandel density of photon time residuals.

The Pandel function (AMANDA, Ahrens et al., NIM A 524 (2004) 169) describes the delay t of a
photon that travelled a distance d from the track by a Gamma density:
shape k = d / lambda, rate beta = 1 / tau + c_medium / lambda_abs,
p(t) = beta^k t^(k-1) exp(-beta t) / Gamma(k) for t > 0. It is zero for t < 0, but measured
residuals can be negative through the PMT jitter; the convolution with a Gaussian of width
sigma (van Eijndhoven et al., Astropart. Phys. 28 (2007) 456) is defined everywhere.

The convolved density and its cumulative are tabulated once per parameter set on a grid in
(k, t) (the Gamma density is integrated exactly over each time bin before the convolution, so
the k < 1 singularity at t = 0 is handled) and evaluated by bilinear interpolation: vectorized
and cheap enough to sit inside a minimizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.reco.medium import C_VACUUM_M_PER_NS


class PandelConfig(BaseModel):
    """Pandel parameters and the time jitter.

    The defaults were fitted with :func:`calibrate_pandel` to 100k single-photon residuals of
    150 simulated events (default :class:`~aihep.reco.simulate.SimConfig`, no noise) with the
    absorption length fixed to an effective 100 m (only 1/tau + c_medium/lambda_abs enters).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lambda_m: float = Field(170.0, gt=0, description="distance per unit Gamma shape")
    tau_ns: float = Field(400.0, gt=0)
    absorption_m: float = Field(100.0, gt=0, description="effective")
    n_group: float = Field(1.38, gt=1)
    jitter_ns: float = Field(2.0, gt=0)
    max_shape: float = Field(8.0, gt=0, description="table range in k = d / lambda")
    max_time_ns: float = Field(3000.0, gt=0, description="table range in residual time")

    @property
    def rate_per_ns(self) -> float:
        return 1.0 / self.tau_ns + C_VACUUM_M_PER_NS / self.n_group / self.absorption_m


@dataclass(frozen=True)
class PandelTable:
    """Tabulated convolved Pandel: ``pdf[i, j]`` and ``cdf[i, j]`` at shape ``k[i]`` and
    residual ``t[j]`` (ns)."""

    config: PandelConfig
    k: np.ndarray
    t: np.ndarray
    pdf: np.ndarray
    cdf: np.ndarray

    def _lookup(self, residual_ns: np.ndarray, distance_m: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear interpolation of (pdf, cdf) in one pass over the flat tables."""
        n_k, n_t = self.pdf.shape
        shape = np.asarray(distance_m, float) * (1.0 / self.config.lambda_m)
        fk = (shape - self.k[0]) * (1.0 / (self.k[1] - self.k[0]))
        fk = np.minimum(np.maximum(np.nan_to_num(fk), 0.0), n_k - 1.000001)
        ft = (np.asarray(residual_ns, float) - self.t[0]) * (1.0 / (self.t[1] - self.t[0]))
        ft = np.minimum(np.maximum(np.nan_to_num(ft), 0.0), n_t - 1.000001)
        i, j = fk.astype(np.int64), ft.astype(np.int64)
        a, b = fk - i, ft - j
        flat = i * n_t + j
        w00, w01, w10, w11 = (1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b
        out = []
        for table in (self._flat_pdf, self._flat_cdf):
            out.append(w00 * table[flat] + w01 * table[flat + 1] + w10 * table[flat + n_t]
                       + w11 * table[flat + n_t + 1])
        return out[0], out[1]

    @property
    def _flat_pdf(self) -> np.ndarray:
        return self.pdf.reshape(-1)

    @property
    def _flat_cdf(self) -> np.ndarray:
        return self.cdf.reshape(-1)

    def pdf_at(self, residual_ns: np.ndarray, distance_m: np.ndarray) -> np.ndarray:
        """Density per ns of a single photon's residual, for photon path ``distance_m``."""
        return self._lookup(residual_ns, distance_m)[0]

    def cdf_at(self, residual_ns: np.ndarray, distance_m: np.ndarray) -> np.ndarray:
        return self._lookup(residual_ns, distance_m)[1]

    def mpe_pdf_at(self, residual_ns: np.ndarray, distance_m: np.ndarray,
                   npe: np.ndarray) -> np.ndarray:
        """Density of the earliest of ``npe`` photons: N p (1 - F)^(N - 1)."""
        n = np.maximum(np.asarray(npe, float), 1.0)
        pdf, cdf = self._lookup(residual_ns, distance_m)
        survive = np.minimum(np.maximum(1.0 - cdf, 0.0), 1.0)
        return n * pdf * survive ** (n - 1.0)


def pandel_table(config: PandelConfig | None = None, n_shape: int = 241,
                 dt_ns: float = 0.5) -> PandelTable:
    """Build (or fetch from the cache) the table of ``config``."""
    return _table(config or PandelConfig(), n_shape, dt_ns)


@lru_cache(maxsize=8)
def _table(config: PandelConfig, n_shape: int, dt_ns: float) -> PandelTable:
    from scipy.signal import fftconvolve
    from scipy.special import gammainc

    sigma = config.jitter_ns
    k = np.linspace(0.0, config.max_shape, n_shape)
    t = np.arange(-8 * sigma, config.max_time_ns + dt_ns, dt_ns)
    edges = np.concatenate([t - dt_ns / 2, [t[-1] + dt_ns / 2]])
    beta = config.rate_per_ns
    # probability of each bin: exact Gamma cdf differences; k = 0 is a delta at t = 0
    x = np.clip(edges, 0, None)[None, :] * beta
    shapes = np.maximum(k, 1e-6)[:, None]
    cdf_edges = gammainc(shapes, x)
    mass = np.diff(cdf_edges, axis=1)
    kernel_t = np.arange(-8 * sigma, 8 * sigma + dt_ns / 2, dt_ns)
    kernel = np.exp(-0.5 * (kernel_t / sigma) ** 2)
    kernel /= kernel.sum()
    smeared = fftconvolve(mass, kernel[None, :], mode="full", axes=1)
    offset = len(kernel_t) // 2
    prob = np.clip(smeared[:, offset: offset + len(t)], 0, None)
    pdf = prob / dt_ns
    cdf = np.cumsum(prob, axis=1)
    return PandelTable(config, k, t, pdf, cdf)


def gamma_pdf(residual_ns: np.ndarray, distance_m: np.ndarray,
              config: PandelConfig | None = None) -> np.ndarray:
    """The plain (unconvolved) Pandel density, zero for t <= 0 (for tests and plots)."""
    from scipy.special import gammaln

    config = config or PandelConfig()
    t = np.asarray(residual_ns, float)
    k = np.maximum(np.asarray(distance_m, float) / config.lambda_m, 1e-9)
    beta = config.rate_per_ns
    with np.errstate(divide="ignore", invalid="ignore"):
        log = k * np.log(beta) + (k - 1) * np.log(t) - beta * t - gammaln(k)
    return np.where(t > 0, np.exp(log), 0.0)


def calibrate_pandel(residual_ns: np.ndarray, distance_m: np.ndarray,
                     base: PandelConfig | None = None,
                     tau_grid_ns: tuple[float, ...] = (50, 100, 200, 400, 800, 1600, 3200),
                     ) -> tuple[PandelConfig, float]:
    """Maximum-likelihood (lambda, tau) of single-photon residuals (n,) at photon paths (n,).

    ``tau`` is scanned on ``tau_grid_ns`` (refined around the best point by a parabola in
    log tau), ``lambda`` minimized for each; returns the config and the mean -log density.
    """
    from scipy.optimize import minimize_scalar

    base = base or PandelConfig()
    residual_ns, distance_m = np.asarray(residual_ns, float), np.asarray(distance_m, float)

    def nll_at(tau: float) -> tuple[float, float]:
        config = base.model_copy(update={"tau_ns": float(tau)})
        table = pandel_table(config)

        def nll(log_lambda: float) -> float:
            shape_scale = base.lambda_m / np.exp(log_lambda)  # table built for base.lambda_m
            p = table.pdf_at(residual_ns, distance_m * shape_scale)
            return float(-np.log(p + 1e-12).mean())

        best = minimize_scalar(nll, bounds=(np.log(5.0), np.log(2000.0)), method="bounded")
        return float(best.fun), float(np.exp(best.x))

    scans = [(tau, *nll_at(tau)) for tau in tau_grid_ns]
    i = int(np.argmin([s[1] for s in scans]))
    tau, value, lam = scans[i]
    if 0 < i < len(scans) - 1:  # parabola through the three points in log tau
        x = np.log([scans[i - 1][0], scans[i][0], scans[i + 1][0]])
        y = np.array([scans[i - 1][1], scans[i][1], scans[i + 1][1]])
        a, b, _ = np.polyfit(x, y, 2)
        if a > 0:
            refined = float(np.exp(-b / (2 * a)))
            value_r, lam_r = nll_at(refined)
            if value_r < value:
                tau, value, lam = refined, value_r, lam_r
    return base.model_copy(update={"tau_ns": float(tau), "lambda_m": lam}), value
