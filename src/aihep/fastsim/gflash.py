"""GFlash (Grindhammer and Peters, hep-ex/0001020): the classical parametrized shower,
tuned to the reference cascade Monte Carlo of the same calorimeter.

Generation follows the paper's forms:

* **Longitudinal**: each shower's profile is a gamma distribution in depth t (X0),
  dE/dt ~ (beta t)^(alpha - 1) exp(-beta t), with its maximum T = (alpha - 1) / beta; ln T and
  ln alpha are drawn from a correlated two-dimensional Gaussian whose means, widths and
  correlation depend on ln(E / Ec).
* **Radial**: at relative depth tau = t / T the radial density (r in Moliere radii) is
  p f_C + (1 - p) f_T with f(r) = 2 r R^2 / (r^2 + R^2)^2 (a core of radius R_C and a tail
  R_T); R_C, R_T and p depend on tau and, as in the paper, on the energy (a table of tau
  bins x energy bins here, where the paper has functions of tau and ln E).
* **Spots**: the visible energy (the response times a Gaussian fluctuation of the
  calorimeter's resolution) is shared by N spots placed along the profile, each at a
  radius drawn from the radial density and a uniform azimuth; N = n0 E^0.876 (GeV) as in
  the paper, so the spot count sets the voxel-to-voxel fluctuations.

**Tuning** (:func:`tune`) replaces the paper's constants by fits to reference showers: per
shower, (T, alpha) from the moments of its layer profile; quadratic functions of ln(E/Ec)
for the means, widths and correlation of (ln T, ln alpha); the core, tail and mixing of
the radial density per tau bin and energy bin from the radial profiles (each shower
weighing the same, as in the per-shower lateral features the metrics compare), then
calibrated by closure: showers generated with the parameters are measured the same way
(the same moment estimate of T, the same layers) and each bin's radii scaled until their
mean radius matches the reference's (the readout layers are several X0 thick, so a fit at
the layer centres alone leaves the generated showers ~30% too wide near the maximum); the
response and resolution (a / sqrt(E) + c) from the summed energies; n0 by matching the
fraction of empty voxels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import optimize

from aihep import DEFAULT_SEED
from aihep.fastsim.geometry import CaloLayout, effective_properties

MIN_TUNING_SHOWERS = 40  # eight energy bins of >= 5 showers
TAU_EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 100.0)
N_TAU = len(TAU_EDGES) - 1
MAX_RADIAL_ENERGY_BINS = 4
SHOWERS_PER_RADIAL_ENERGY_BIN = 250  # fewer tuning showers: fewer energy bins
CLOSURE_ITERATIONS = 3
CLOSURE_SHOWERS = 10_000


class GFlashParams(BaseModel):
    """Parameters of the parametrization (defaults: untuned; see :func:`tune`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # (ln T, ln alpha): quadratic polynomials in ln y (numpy order: highest power first)
    mean_ln_t: tuple[float, float, float] = (0.0, 0.13, 0.6)
    mean_ln_alpha: tuple[float, float, float] = (0.0, 0.1, 0.9)
    sigma_ln_t: tuple[float, float, float] = (0.0, 0.0, 0.15)
    sigma_ln_alpha: tuple[float, float, float] = (0.0, 0.0, 0.15)
    correlation: tuple[float, float, float] = (0.0, 0.0, 0.6)
    # radial density per tau bin (TAU_EDGES) and energy bin: core and tail radii (R_M), core
    # fraction; energy bin i's tau bins at [i * N_TAU, (i + 1) * N_TAU)
    r_core: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
    r_tail: tuple[float, ...] = (0.7, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
    p_core: tuple[float, ...] = (0.8, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3)
    radial_energy_edges_mev: tuple[float, ...] = Field(
        (), description="inner edges of the radial table's energy bins (MeV); () = one bin")
    # visible energy: response (fraction) and resolution a / sqrt(E GeV) (+) c
    response: float = Field(0.03, gt=0)
    stochastic: float = Field(0.17, ge=0)
    constant: float = Field(0.01, ge=0)
    spots_n0: float = Field(100.0, gt=0, description="spots = n0 E^0.876 (E in GeV)")

    @model_validator(mode="after")
    def _table_shape(self) -> GFlashParams:
        n = N_TAU * (len(self.radial_energy_edges_mev) + 1)
        if not len(self.r_core) == len(self.r_tail) == len(self.p_core) == n:
            msg = (f"r_core, r_tail and p_core need {n} values ({N_TAU} tau bins x "
                   f"{len(self.radial_energy_edges_mev) + 1} energy bins)")
            raise ValueError(msg)
        return self

    def energy_bin(self, energies_mev: np.ndarray) -> np.ndarray:
        """Index of the radial table's energy bin of each energy (MeV)."""
        return np.searchsorted(np.asarray(self.radial_energy_edges_mev, float),
                               np.asarray(energies_mev, float), side="right")


@dataclass(frozen=True)
class GFlash:
    """A parametrized shower model for one layout."""

    layout: CaloLayout
    params: GFlashParams
    # effective X0, Moliere radius [mm] and critical energy [MeV] of the layout
    _x0: float = field(init=False, repr=False, compare=False)
    _rm: float = field(init=False, repr=False, compare=False)
    _ec: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        eff = effective_properties(self.layout)
        object.__setattr__(self, "_x0", eff["x0_mm"])
        object.__setattr__(self, "_rm", eff["moliere_radius_mm"])
        object.__setattr__(self, "_ec", eff["critical_energy_mev"])

    def generate(self, energies_mev: np.ndarray, seed: int = DEFAULT_SEED) -> np.ndarray:
        """Voxel energies (N, n_voxels) of showers of the given incident energies (MeV)."""
        rng = np.random.default_rng(seed)
        energies = np.asarray(energies_mev, float)
        out = np.zeros((len(energies), self.layout.n_voxels), np.float32)
        for start in range(0, len(energies), 256):
            batch = energies[start:start + 256]
            out[start:start + len(batch)] = self._batch(batch, rng)
        return out

    def _longitudinal(self, energies: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        ln_y = np.log(energies / self._ec)
        mu = np.stack([np.polyval(p.mean_ln_t, ln_y), np.polyval(p.mean_ln_alpha, ln_y)], 1)
        s_t = np.maximum(np.polyval(p.sigma_ln_t, ln_y), 1e-3)
        s_a = np.maximum(np.polyval(p.sigma_ln_alpha, ln_y), 1e-3)
        rho = np.clip(np.polyval(p.correlation, ln_y), -0.95, 0.95)
        z1, z2 = rng.standard_normal((2, len(energies)))
        ln_t = mu[:, 0] + s_t * z1
        ln_a = mu[:, 1] + s_a * (rho * z1 + np.sqrt(1 - rho**2) * z2)
        alpha = np.maximum(np.exp(ln_a), 1.05)
        t_max = np.maximum(np.exp(ln_t), 0.1)
        return alpha, (alpha - 1) / t_max

    def _batch(self, energies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p, layout = self.params, self.layout
        alpha, beta = self._longitudinal(energies, rng)
        e_gev = energies / 1e3
        resolution = np.hypot(p.stochastic / np.sqrt(e_gev), p.constant)
        visible = np.maximum(energies * p.response * (1 + resolution * rng.standard_normal(
            len(energies))), 0.0)
        n_spots = np.maximum(rng.poisson(p.spots_n0 * e_gev**0.876), 1)
        owner = np.repeat(np.arange(len(energies)), n_spots)
        t = rng.gamma(alpha[owner], 1.0 / beta[owner])
        tau = t * beta[owner] / (alpha[owner] - 1)
        k = np.clip(np.searchsorted(TAU_EDGES, tau, side="right") - 1, 0, N_TAU - 1)
        k = k + N_TAU * p.energy_bin(energies)[owner]
        core = rng.random(len(t)) < np.asarray(p.p_core)[k]
        radius = np.where(core, np.asarray(p.r_core)[k], np.asarray(p.r_tail)[k])
        u = rng.random(len(t))
        r_mm = radius * np.sqrt(u / (1 - u)) * self._rm
        phi = rng.uniform(-np.pi, np.pi, len(t))
        z_mm = t * self._x0
        layer = (z_mm / (layout.cell_mm * layout.cells_per_layer)).astype(int)
        rbin = np.searchsorted(np.asarray(layout.radial_edges_mm), r_mm, side="right") - 1
        abin = np.minimum(((phi + np.pi) / (2 * np.pi) * layout.n_alpha).astype(int),
                          layout.n_alpha - 1)
        ok = (layer < layout.n_layers) & (rbin < layout.n_radial)
        voxel = (layer * layout.n_alpha + abin) * layout.n_radial + rbin
        spot_energy = (visible / n_spots)[owner]
        flat = np.zeros(len(energies) * layout.n_voxels)
        np.add.at(flat, (owner * layout.n_voxels + voxel)[ok], spot_energy[ok])
        out = flat.reshape(len(energies), layout.n_voxels)
        out[out < layout.threshold_mev] = 0.0
        return out


def _layer_moments(showers: np.ndarray, layout: CaloLayout, x0_mm: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-shower gamma (alpha, T) from the moments of the layer profile (depth in X0)."""
    per_layer = showers.reshape(len(showers), layout.n_layers, -1).sum(-1)
    depth = (np.arange(layout.n_layers) + 0.5) * layout.cell_mm * layout.cells_per_layer / x0_mm
    total = np.maximum(per_layer.sum(1), 1e-12)
    mean = (per_layer * depth).sum(1) / total
    var = (per_layer * depth**2).sum(1) / total - mean**2
    width = layout.cell_mm * layout.cells_per_layer / x0_mm
    var = np.maximum(var - width**2 / 12, 1e-6)  # the layer width's own spread
    alpha = mean**2 / var
    return alpha, (alpha - 1) * var / mean


def _radial_fit(r_edges_rm: np.ndarray, fractions: np.ndarray) -> tuple[float, float, float]:
    """Core radius, tail radius and core fraction fitted to binned radial fractions, in
    log fraction (relative deviations: the sparse outer bins set the lateral width)."""
    def cdf(r: np.ndarray, rc: float, rt: float, pc: float) -> np.ndarray:
        return pc * r**2 / (r**2 + rc**2) + (1 - pc) * r**2 / (r**2 + rt**2)

    filled = fractions > 0

    def residual(x: np.ndarray) -> np.ndarray:
        model = np.diff(cdf(r_edges_rm, *x))[filled]
        return np.log(np.maximum(model, 1e-12)) - np.log(fractions[filled])

    fit = optimize.least_squares(residual, [0.15, 1.0, 0.7],
                                 bounds=([0.01, 0.2, 0.05], [1.0, 5.0, 0.99]))
    rc, rt, pc = fit.x
    return float(rc), float(rt), float(pc)


def tune(showers_mev: np.ndarray, incident_mev: np.ndarray, layout: CaloLayout,
         seed: int = DEFAULT_SEED) -> GFlashParams:
    """GFlash parameters fitted to reference showers (N, n_voxels) of ``layout``."""
    from aihep.errors import InputError

    if len(incident_mev) < MIN_TUNING_SHOWERS:
        raise InputError("reference", "showers", f"at least {MIN_TUNING_SHOWERS} showers to "
                         f"tune GFlash on, got {len(incident_mev)}")
    eff = effective_properties(layout)
    x0, rm, ec = eff["x0_mm"], eff["moliere_radius_mm"], eff["critical_energy_mev"]
    showers = np.asarray(showers_mev, float)
    energies = np.asarray(incident_mev, float)
    alpha, t_max = _layer_moments(showers, layout, x0)
    good = (alpha > 1.05) & np.isfinite(t_max) & (t_max > 0)
    ln_y = np.log(energies / ec)
    with np.errstate(invalid="ignore", divide="ignore"):  # only `good` showers are used
        ln_t, ln_a = np.log(t_max), np.log(alpha)
    # statistics in bins of ln y, then quadratics through them
    bins = np.quantile(ln_y[good], np.linspace(0, 1, 9))
    which = np.clip(np.searchsorted(bins, ln_y, side="right") - 1, 0, len(bins) - 2)
    rows = []
    for b in range(len(bins) - 1):
        sel = good & (which == b)
        if sel.sum() < 5:
            continue
        rows.append((ln_y[sel].mean(), ln_t[sel].mean(), ln_a[sel].mean(), ln_t[sel].std(),
                     ln_a[sel].std(), np.corrcoef(ln_t[sel], ln_a[sel])[0, 1]))
    table = np.array(rows)
    degree = min(2, len(table) - 1)

    def poly(column: int) -> tuple[float, float, float]:
        coef = np.polyfit(table[:, 0], table[:, column], degree)
        a, b, c = (float(x) for x in np.concatenate([np.zeros(3 - len(coef)), coef]))
        return a, b, c

    # radial: fractions per radial bin in tau bins (depth / the shower's own T) and energy
    # bins (quantiles of the tuning energies)
    n_ebins = int(np.clip(good.sum() // SHOWERS_PER_RADIAL_ENERGY_BIN, 1,
                          MAX_RADIAL_ENERGY_BINS))
    edges_mev = tuple(float(v) for v in np.quantile(energies[good], np.linspace(
        0, 1, n_ebins + 1))[1:-1])
    target = _radial_profiles(showers, energies, layout, edges_mev)
    r_edges = np.asarray(layout.radial_edges_mm) / rm
    radial = np.array([_radial_fit(r_edges, f) if f.sum() > 0 else (0.2, 1.0, 0.7)
                       for f in target])
    ratio = showers.sum(1) / energies
    response = float(np.mean(ratio))
    # resolution: sigma/E vs E in energy bins, a / sqrt(E) (+) c
    sig_rows = []
    for b in range(len(bins) - 1):
        sel = which == b
        if sel.sum() >= 5:
            sig_rows.append((np.mean(energies[sel]) / 1e3, np.std(ratio[sel]) / response))
    sig = np.array(sig_rows)
    (a, c), _ = optimize.curve_fit(lambda e, a, c: np.hypot(a / np.sqrt(e), c), sig[:, 0],
                                   sig[:, 1], p0=(0.17, 0.01), bounds=([0, 0], [2, 0.5]))
    params = GFlashParams(
        mean_ln_t=poly(1), mean_ln_alpha=poly(2), sigma_ln_t=poly(3), sigma_ln_alpha=poly(4),
        correlation=poly(5), r_core=tuple(radial[:, 0]), r_tail=tuple(radial[:, 1]),
        p_core=tuple(radial[:, 2]), radial_energy_edges_mev=edges_mev, response=response,
        stochastic=float(a), constant=float(c))
    params = _radial_closure(params, target, energies, layout, seed)
    return _tune_spots(params, showers, energies, layout, seed)


def _radial_profiles(showers: np.ndarray, energies: np.ndarray, layout: CaloLayout,
                     edges_mev: tuple[float, ...]) -> np.ndarray:
    """Radial fractions (n_ebins * N_TAU, n_radial) per energy bin and tau bin, each shower
    weighing the same (its layers by their share of its energy); tau is the layer centre's
    depth over the shower's own T from the moments of its layer profile. Empty bins: zeros."""
    eff = effective_properties(layout)
    alpha, t_max = _layer_moments(showers, layout, eff["x0_mm"])
    good = (alpha > 1.05) & np.isfinite(t_max) & (t_max > 0)
    per = showers.reshape(len(showers), layout.n_layers, layout.n_alpha, layout.n_radial
                          ).sum(2) / np.maximum(showers.sum(1), 1e-12)[:, None, None]
    depth = ((np.arange(layout.n_layers) + 0.5) * layout.cell_mm * layout.cells_per_layer
             / eff["x0_mm"])
    tau = depth[None, :] / np.where(good, t_max, np.nan)[:, None]
    ebin = np.searchsorted(np.asarray(edges_mev, float), energies, side="right")
    out = np.zeros((len(edges_mev) + 1, N_TAU, layout.n_radial))
    for i in range(len(edges_mev) + 1):
        for k, (lo, hi) in enumerate(itertools.pairwise(TAU_EDGES)):
            sel = (tau >= lo) & (tau < hi) & (ebin == i)[:, None]
            profile = per[sel].sum(0)
            if profile.sum() > 0:
                out[i, k] = profile / profile.sum()
    return out.reshape(-1, layout.n_radial)


def _radial_closure(params: GFlashParams, target: np.ndarray, energies: np.ndarray,
                    layout: CaloLayout, seed: int) -> GFlashParams:
    """Scale each (energy, tau) bin's radii until showers generated with ``params``, measured
    like the reference (:func:`_radial_profiles`), have the reference's mean radius."""
    centre = np.diff(np.asarray(layout.radial_edges_mm)) / 2 + np.asarray(
        layout.radial_edges_mm)[:-1]
    wanted = target @ centre
    pick = np.random.default_rng(seed).permutation(len(energies))[:CLOSURE_SHOWERS]
    for i in range(CLOSURE_ITERATIONS):
        generated = GFlash(layout, params).generate(energies[pick], seed + i)
        measured = _radial_profiles(generated, energies[pick], layout,
                                    params.radial_energy_edges_mev) @ centre
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = wanted / measured
        scale = np.where(np.isfinite(scale) & (scale > 0), np.clip(scale, 0.5, 2.0), 1.0)
        params = params.model_copy(update={
            "r_core": tuple(np.clip(np.asarray(params.r_core) * scale, 0.005, 5.0)),
            "r_tail": tuple(np.clip(np.asarray(params.r_tail) * scale, 0.05, 20.0))})
    return params


def _tune_spots(params: GFlashParams, showers: np.ndarray, energies: np.ndarray,
                layout: CaloLayout, seed: int) -> GFlashParams:
    """n0 whose showers have the reference's mean fraction of empty voxels."""
    pick = np.random.default_rng(seed).permutation(len(energies))[:300]
    target = float(np.mean(showers[pick] > 0))

    def occupancy(n0: float) -> float:
        model = GFlash(layout, params.model_copy(update={"spots_n0": n0}))
        return float(np.mean(model.generate(energies[pick], seed) > 0))

    grid = np.geomspace(5.0, 5000.0, 13)
    values = np.array([occupancy(n0) for n0 in grid])
    best = float(np.exp(np.interp(target, values, np.log(grid)))) if np.all(
        np.diff(values) >= 0) else float(grid[np.argmin(np.abs(values - target))])
    return params.model_copy(update={"spots_n0": best})


def describe(params: GFlashParams) -> dict[str, Any]:
    """The tuned parameters as a plain dict (for results files)."""
    return params.model_dump(mode="json")


@dataclass(frozen=True)
class GFlashRun:
    """Tuned parameters and the showers generated with them."""

    generated: Any  # aihep.fastsim.dataset.GeneratedShowers
    params: GFlashParams

    def to_dict(self) -> dict[str, Any]:
        return {**self.generated.to_dict(), "params": describe(self.params)}


def gflash_file(reference: Any, layout: CaloLayout, out: Any, n_showers: int = 1000,
                seed: int = DEFAULT_SEED, force: bool = False) -> GFlashRun:
    """Tune GFlash on a reference CaloChallenge file, generate ``n_showers`` (incident
    energies log-uniform in the layout's range) into ``out/showers.h5``; ``out/gflash.json``
    holds the parameters."""
    from pathlib import Path

    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.errors import InputError
    from aihep.fastsim.dataset import write_generated
    from aihep.io.calo import read_showers
    from aihep.workflow.manifest import claim_output_dir

    ref = read_showers(reference, n_voxels=layout.n_voxels)
    if len(ref) < MIN_TUNING_SHOWERS:
        raise InputError(reference, "showers", f"at least {MIN_TUNING_SHOWERS} showers to "
                         f"tune GFlash on, got {len(ref)}")
    claim_output_dir(out, "aihep.calo.gflash", force)
    params = tune(ref.showers_mev, ref.incident_mev, layout, seed)
    directory = ensure_writable_dir(out)
    params_file = write_json_atomic(Path(directory) / "gflash.json", describe(params))
    model = GFlash(layout, params)
    generated = write_generated(out, "aihep.calo.gflash", lambda e: model.generate(e, seed),
                                layout, n_showers, seed,
                                {"layout": layout.model_dump(mode="json"),
                                 "n_showers": n_showers}, [Path(reference)], (params_file,))
    return GFlashRun(generated, params)
