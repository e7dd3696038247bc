"""The reference calorimeter simulation: a particle-by-particle electromagnetic cascade
Monte Carlo in a layered sampling calorimeter.

Every particle above the cuts is followed, one at a time from a stack (depth first, as in
EGS), in a numba-compiled kernel. Interactions and their tables: :mod:`.physics`.

* **Photons** (energy >= ``k_cut``): Woodcock (delta) tracking across the slabs with the
  largest attenuation of all materials; at a real interaction pair production, Compton
  scattering or photoelectric absorption (its energy deposited on the spot). Photons below
  ``k_cut`` deposit their energy where they are created.
* **Electrons and positrons** (kinetic energy >= ``t_cut``): condensed-history steps, ended
  by a slab boundary, a discrete interaction (bremsstrahlung above ``k_cut``, Moller
  knock-on above ``t_cut``) or at most ``max_loss`` of the energy. Along a step: the
  continuous loss from the range table (restricted collision + soft radiative), with, in
  active slabs, Landau-like fluctuations (close collisions between ``landau_min`` and
  ``t_cut`` sampled as a Poisson number of 1/E^2 transfers); multiple scattering with
  theta_0^2 = s / lambda_1, lambda_1 the screened-Rutherford transport mean free path
  (``scattering_power="wentzel"``, the default: it composes over steps; ``"highland"``: the
  Highland angle per step, which scatters less the shorter the steps), angle and lateral
  displacement sampled together (correlated Gaussians), and a path-length correction: a
  step of path s advances by its mean geometric length lambda_1 (1 - exp(-s / lambda_1))
  (without it, steps of ``max_loss`` 0.2 put 20-24% too much energy in thin silicon). The
  deflection (``scattering="sphere"``, the default): the two projected Gaussian angles give
  the polar angle through 1 - cos(theta) = (theta_x^2 + theta_y^2) / 2 (exact for small
  angles, tending to isotropy when theta_0 is large, as for soft electrons in tungsten);
  ``"tangent"`` adds them in the tangent plane, which never turns a particle past 90 degrees
  in one step. The kernel before (Highland, tangent, step 0.05) reflected ~40% less energy
  from tungsten and gave a Si-W stochastic term 10% below the CALICE measurement (the default:
  5% above; docs/fastsim.md). Below ``t_cut`` a particle is still followed while its residual
  range can reach a slab boundary; otherwise its energy is deposited there. Positrons then
  annihilate at rest into two 511 keV photons (annihilation in flight is not simulated).
* Energy counts only in active slabs: the sampling fraction comes from the geometry. The
  deposits are binned into the layout's readout (layer, angle, radius around the incident
  axis); voxels below the threshold are zeroed.

Simplifications (named, to be measured against): Moller for positrons as well as electrons,
fixed production angles m/E for pair and bremsstrahlung products, no Rayleigh scattering,
no atomic relaxation, free-electron Compton, no LPM effect (it matters above ~200 GeV).

Each shower has its own random stream (a numpy ``Generator`` seeded from (seed, shower
index), drawn from inside the kernel): identical whatever the chunking or thread count.
The first version of this module stepped all live particles of a shower together in numpy;
the kernel follows the same algorithm and is ~30x faster (docs/fastsim.md).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.fastsim import physics as ph
from aihep.fastsim.geometry import CaloLayout
from aihep.fastsim.materials import get_material

PHOTON, ELECTRON, POSITRON = 0, 1, 2
ME = ph.ME
# rows of the packed per-material table
_PAIR, _COMPTON, _PHOTO, _BREMS, _MOLLER, _RANGE, _TRANSPORT = range(7)
_STACK = 1 << 16


class CascadeConfig(BaseModel):
    """Production cuts and stepping of the cascade Monte Carlo.

    The default cuts (25 keV photons, 250 keV electrons) are where the sampling fraction of
    the dataset-2 stack has converged to 1% (halving them: +1.0%; from 100 keV / 1 MeV it
    rises by 7%, docs/fastsim.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k_cut_mev: float = Field(0.025, gt=0, description="photon cut")
    t_cut_mev: float = Field(0.25, gt=0, description="electron kinetic-energy cut")
    max_loss: float = Field(0.02, gt=0, le=0.5,
                            description="largest fractional energy loss per step")
    landau_min_mev: float = Field(0.01, gt=0, description="close collisions sampled above")
    path_correction: bool = Field(
        True, description="advance a step's mean geometric length lambda_1 (1 - exp(-s / "
        "lambda_1)), not its path length s (False: the uncorrected kernel)")
    particle: str = Field("electron", pattern="^(electron|positron|photon)$")
    scattering_power: Literal["highland", "wentzel"] = Field(
        "wentzel", description="a step's multiple-scattering angle: theta_0^2 = s / lambda_1 "
        "with the screened-Rutherford transport mean free path (wentzel: composes over "
        "steps), or the Highland formula per step (highland: its logarithm makes many short "
        "steps scatter less than one long one)")
    scattering: Literal["tangent", "sphere"] = Field(
        "sphere", description="a step's multiple-scattering deflection: two Gaussian "
        "projected angles added in the tangent plane (tangent: never past 90 degrees in one "
        "step), or the same draw as a polar angle with 1 - cos(theta) = (theta_x^2 + "
        "theta_y^2) / 2, redrawn above 2 (sphere: tends to isotropy when theta0 is large)")


class Calorimeter:
    """The slabs of a layout along z with their materials' tables, packed for the kernel."""

    def __init__(self, layout: CaloLayout, config: CascadeConfig) -> None:
        self.layout, self.config = layout, config
        names = sorted({s.material for s in layout.cell})
        self.tables = [ph.tables(get_material(n), config.k_cut_mev, config.t_cut_mev)
                       for n in names]
        cell_mat = np.array([names.index(s.material) for s in layout.cell])
        cell_active = np.array([s.active for s in layout.cell])
        thick = np.array([s.thickness_mm for s in layout.cell])
        n = layout.n_cells
        self.material = np.tile(cell_mat, n).astype(np.int64)
        self.active = np.tile(cell_active, n)
        self.cell_of_slab = np.repeat(np.arange(n), len(layout.cell))
        self.edges = np.concatenate([[0.0], np.cumsum(np.tile(thick, n))])
        self.depth = float(self.edges[-1])
        self.mu_max = np.max([t.mu_total for t in self.tables], axis=0)
        self._table = np.stack([np.stack([t.mu_pair, t.mu_compton, t.mu_photo, t.sigma_brems,
                                          t.sigma_moller, t.range_mm, t.transport])
                                for t in self.tables])
        self._atom = np.array([[t.atom.z, t.atom.lnz3, t.atom.fc, t.x0_mm, t.xi_mev_mm]
                               for t in self.tables])
        self._layer = (self.cell_of_slab // layout.cells_per_layer).astype(np.int64)
        self._radial = np.asarray(layout.radial_edges_mm, float)
        self._cuts = np.array([config.k_cut_mev, config.t_cut_mev, config.max_loss,
                               config.landau_min_mev, float(config.path_correction),
                               float(config.scattering == "sphere"),
                               float(config.scattering_power == "wentzel")])
        self._kind = {"electron": ELECTRON, "positron": POSITRON,
                      "photon": PHOTON}[config.particle]

    def slab(self, z: np.ndarray) -> np.ndarray:
        """Slab index of positions z (mm); -1 in front, n_slabs behind."""
        return np.searchsorted(self.edges, z, side="right") - 1


def simulate_shower(calo: Calorimeter, energy_mev: float, rng: np.random.Generator,
                    profile: np.ndarray | None = None) -> np.ndarray:
    """Voxel energies (MeV) of one shower of a particle entering at the origin along z.

    With ``profile`` (an array of n_slabs), the energy deposited in every slab, active or
    not, is added to it (for validation: longitudinal profiles, containment)."""
    layout = calo.layout
    voxels = np.zeros(layout.n_voxels)
    prof = np.zeros(0) if profile is None else np.zeros(len(calo.material))
    kinetic = energy_mev if calo._kind == PHOTON else energy_mev - ME
    _shower(rng, calo._kind, float(kinetic), calo._table, calo.mu_max, calo._atom,
            calo.edges, calo.material, calo.active, calo._layer, calo._radial,
            layout.n_alpha, layout.n_radial, calo._cuts, voxels, prof)
    if profile is not None:
        profile += prof
    voxels[voxels < layout.threshold_mev] = 0.0
    return voxels


def simulate(layout: CaloLayout, energies_mev: np.ndarray, config: CascadeConfig | None = None,
             seed: int = DEFAULT_SEED, first_index: int = 0) -> np.ndarray:
    """Voxel energies (N, n_voxels) of showers of the given incident energies (MeV); shower
    ``first_index + i`` uses the random stream (seed, "shower", index)."""
    from aihep.workflow import seeds

    calo = Calorimeter(layout, config or CascadeConfig())
    out = np.empty((len(energies_mev), layout.n_voxels), np.float32)
    for i, energy in enumerate(np.asarray(energies_mev, float)):
        rng = seeds.rng(seed, "shower", first_index + i)
        out[i] = simulate_shower(calo, float(energy), rng)
    return out


# -- the kernel ----------------------------------------------------------------------------

_G0, _G1 = float(ph.GRID[0]), float(ph.GRID[-1])
_LG0 = float(np.log(ph.GRID[0]))
_DLG = float(np.log(ph.GRID[1] / ph.GRID[0]))
_NG = len(ph.GRID)


@njit(cache=True, inline="always")
def _interp(row: np.ndarray, e: float) -> float:
    """A table row at energy e (linear in ln E on the log grid, clipped at its ends)."""
    f = (np.log(min(max(e, _G0), _G1)) - _LG0) / _DLG
    i = min(int(f), _NG - 2)
    frac = f - i
    return row[i] * (1.0 - frac) + row[i + 1] * frac


@njit(cache=True)
def _energy_at_range(range_row: np.ndarray, residual: float) -> float:
    """Kinetic energy (MeV) whose range is ``residual`` (mm); 0 below the table."""
    if residual <= range_row[0]:
        return 0.0
    j = np.searchsorted(range_row, residual)
    if j >= _NG:
        return _G1
    frac = (residual - range_row[j - 1]) / (range_row[j] - range_row[j - 1])
    return np.exp(_LG0 + _DLG * (j - 1 + frac))


@njit(cache=True, inline="always")
def _screening(delta: float) -> tuple[float, float]:
    if delta <= 1.0:
        return (20.867 - 3.242 * delta + 0.625 * delta * delta,
                20.209 - 1.930 * delta - 0.086 * delta * delta)
    far = 21.12 - 4.184 * np.log(delta + 0.952)
    return far, far


@njit(cache=True)
def _pair_shape(z: float, lnz3: float, fc: float, k: float, eps: float) -> float:
    delta = 136.0 * ME * z ** (-1 / 3) / (k * eps * (1 - eps))
    phi1, phi2 = _screening(delta)
    a = phi1 / 4 - lnz3 - fc
    b = phi2 / 4 - lnz3 - fc
    return max((eps * eps + (1 - eps) ** 2) * a + (2 / 3) * eps * (1 - eps) * b, 0.0)


@njit(cache=True)
def _brems_shape(z: float, lnz3: float, fc: float, e_total: float, y: float) -> float:
    delta = 136.0 * ME * z ** (-1 / 3) * y / (e_total * max(1 - y, 1e-12))
    phi1, phi2 = _screening(delta)
    a = phi1 / 4 - lnz3 - fc
    b = phi2 / 4 - lnz3 - fc
    return max((1 + (1 - y) ** 2) * a - (2 / 3) * (1 - y) * b, 0.0)


@njit(cache=True)
def _moller_shape(t: float, eps: float) -> float:
    tau = t / ME
    g = tau / (tau + 1)
    return (1 / eps**2 + 1 / (1 - eps) ** 2 + g * g
            - (2 * tau + 1) / (tau + 1) ** 2 / (eps * (1 - eps)))


@njit(cache=True)
def _sample_pair(rng, atom: np.ndarray, k: float) -> float:
    """Electron total-energy fraction of a pair produced by a photon of energy k (MeV)."""
    z, lnz3, fc = atom[0], atom[1], atom[2]
    lo = ME / k
    bound = 1.05 * max(_pair_shape(z, lnz3, fc, k, 0.5), _pair_shape(z, lnz3, fc, k, lo + 1e-9))
    while True:
        eps = lo + (1 - 2 * lo) * rng.random()
        if rng.random() * bound <= _pair_shape(z, lnz3, fc, k, eps):
            return eps


@njit(cache=True)
def _sample_brems(rng, atom: np.ndarray, t: float, k_cut: float) -> float:
    """Photon energy (> k_cut, MeV) radiated by an electron of kinetic energy t."""
    etot = t + ME
    while True:
        k = k_cut * (t / k_cut) ** rng.random()
        if rng.random() * (4 / 3 + 0.2) <= _brems_shape(atom[0], atom[1], atom[2], etot,
                                                        k / etot):
            return k


@njit(cache=True)
def _sample_moller(rng, t: float, t_cut: float) -> float:
    """Knock-on kinetic energy (t_cut .. t/2, MeV) of Moller scattering."""
    e0 = t_cut / t
    while True:
        eps = e0 / (1 - rng.random() * (1 - 2 * e0))  # ~ 1/eps^2 on [e0, 1/2]
        if rng.random() * 2.25 <= eps * eps * _moller_shape(t, eps):
            return eps * t


@njit(cache=True)
def _sample_compton(rng, k: float) -> tuple[float, float]:
    """Scattered-photon energy fraction and cos(theta) (Klein-Nishina, Butcher-Messel)."""
    kappa = k / ME
    e0 = 1 / (1 + 2 * kappa)
    a1, a2 = -np.log(e0), (1 - e0 * e0) / 2
    while True:
        if a1 / (a1 + a2) > rng.random():
            eps = np.exp(-a1 * rng.random())
        else:
            eps = np.sqrt(e0 * e0 + (1 - e0 * e0) * rng.random())
        one_minus_cos = (1 - eps) / (eps * kappa)
        sin2 = one_minus_cos * (2 - one_minus_cos)
        if 1 - eps * sin2 / (1 + eps * eps) >= rng.random():
            return eps, 1 - one_minus_cos


@njit(cache=True, inline="always")
def _frame(u: float, v: float, w: float) -> tuple[float, float, float, float, float, float]:
    """Two unit vectors orthogonal to the unit direction (u, v, w)."""
    if abs(w) < 0.9:
        a, b, c = v, -u, 0.0  # d x z
    else:
        a, b, c = 0.0, w, -v  # d x x
    norm = np.sqrt(a * a + b * b + c * c)
    a, b, c = a / norm, b / norm, c / norm
    return a, b, c, v * c - w * b, w * a - u * c, u * b - v * a


@njit(cache=True)
def _rotate(u: float, v: float, w: float, cos_t: float,
            phi: float) -> tuple[float, float, float]:
    """The direction (u, v, w) turned by polar angle acos(cos_t) at azimuth phi."""
    sin_t = np.sqrt(max(1 - cos_t * cos_t, 0.0))
    a1, b1, c1, a2, b2, c2 = _frame(u, v, w)
    cp, sp = np.cos(phi), np.sin(phi)
    x = cos_t * u + sin_t * (cp * a1 + sp * a2)
    y = cos_t * v + sin_t * (cp * b1 + sp * b2)
    z = cos_t * w + sin_t * (cp * c1 + sp * c2)
    norm = np.sqrt(x * x + y * y + z * z)
    return x / norm, y / norm, z / norm


@njit(cache=True)
def _deposit(e: float, x: float, y: float, slab: int, active: np.ndarray, layer: np.ndarray,
             radial: np.ndarray, n_alpha: int, n_radial: int, voxels: np.ndarray,
             profile: np.ndarray) -> None:
    if e <= 0 or slab < 0 or slab >= len(active):
        return
    if profile.size:
        profile[slab] += e
    if not active[slab]:
        return
    r = np.hypot(x, y)
    rbin = np.searchsorted(radial, r, side="right") - 1
    if rbin >= n_radial:
        return
    abin = min(int((np.arctan2(y, x) + np.pi) / (2 * np.pi) * n_alpha), n_alpha - 1)
    voxels[(layer[slab] * n_alpha + abin) * n_radial + rbin] += e


@njit(cache=True)
def _push(stack: np.ndarray, top: int, kind: int, e: float, x: float, y: float, z: float,
          u: float, v: float, w: float) -> int:
    if top >= len(stack):
        raise RuntimeError("cascade stack overflow")
    stack[top, 0], stack[top, 1] = kind, e
    stack[top, 2], stack[top, 3], stack[top, 4] = x, y, z
    stack[top, 5], stack[top, 6], stack[top, 7] = u, v, w
    return top + 1


@njit(cache=True)
def _annihilate(rng, stack: np.ndarray, top: int, x: float, y: float, z: float) -> int:
    cos = rng.uniform(-1.0, 1.0)
    phi = rng.uniform(0.0, 2 * np.pi)
    sin = np.sqrt(1 - cos * cos)
    u, v = sin * np.cos(phi), sin * np.sin(phi)
    top = _push(stack, top, PHOTON, ME, x, y, z, u, v, cos)
    return _push(stack, top, PHOTON, ME, x, y, z, -u, -v, -cos)


@njit(cache=True)
def _shower(rng, kind0: int, energy0: float, table: np.ndarray, mu_max: np.ndarray,
            atom: np.ndarray, edges: np.ndarray, material: np.ndarray, active: np.ndarray,
            layer: np.ndarray, radial: np.ndarray, n_alpha: int, n_radial: int,
            cuts: np.ndarray, voxels: np.ndarray, profile: np.ndarray) -> None:
    """Follow one shower; deposits are added to ``voxels`` (and ``profile`` if sized)."""
    k_cut, t_cut, max_loss, landau_min = cuts[0], cuts[1], cuts[2], cuts[3]
    path_correction = cuts[4] > 0
    sphere = cuts[5] > 0
    wentzel = cuts[6] > 0
    n_slabs = len(material)
    stack = np.empty((_STACK, 8))
    top = _push(stack, 0, kind0, energy0, 0.0, 0.0, 1e-9, 0.0, 0.0, 1.0)
    while top > 0:
        top -= 1
        kind = int(stack[top, 0])
        e = stack[top, 1]
        x, y, z = stack[top, 2], stack[top, 3], stack[top, 4]
        u, v, w = stack[top, 5], stack[top, 6], stack[top, 7]
        slab = np.searchsorted(edges, z, side="right") - 1
        if kind == PHOTON:
            if e < k_cut:  # below the cut: absorbed on the spot
                _deposit(e, x, y, slab, active, layer, radial, n_alpha, n_radial, voxels,
                         profile)
                continue
            mu_bound = _interp(mu_max, e)
            while True:  # Woodcock tracking to the next real interaction
                step = -np.log(1.0 - rng.random()) / mu_bound
                x, y, z = x + step * u, y + step * v, z + step * w
                slab = np.searchsorted(edges, z, side="right") - 1
                if slab < 0 or slab >= n_slabs:
                    break
                m = material[slab]
                mu_pair = _interp(table[m, _PAIR], e)
                mu_compton = _interp(table[m, _COMPTON], e)
                mu_photo = _interp(table[m, _PHOTO], e)
                r = rng.random() * mu_bound
                if r < mu_pair:
                    eps = _sample_pair(rng, atom[m], e)
                    e_minus, e_plus = eps * e, (1 - eps) * e
                    phi = rng.uniform(0.0, 2 * np.pi)
                    a, b, c = _rotate(u, v, w, np.cos(ME / e_minus), phi)
                    top = _push(stack, top, ELECTRON, e_minus - ME, x, y, z, a, b, c)
                    a, b, c = _rotate(u, v, w, np.cos(ME / e_plus), phi + np.pi)
                    top = _push(stack, top, POSITRON, e_plus - ME, x, y, z, a, b, c)
                    break
                if r < mu_pair + mu_compton:
                    eps, cos = _sample_compton(rng, e)
                    phi = rng.uniform(0.0, 2 * np.pi)
                    k_out = eps * e
                    a, b, c = _rotate(u, v, w, cos, phi)
                    pe_x, pe_y, pe_z = u * e - a * k_out, v * e - b * k_out, w * e - c * k_out
                    norm = max(np.sqrt(pe_x**2 + pe_y**2 + pe_z**2), 1e-300)
                    top = _push(stack, top, ELECTRON, e - k_out, x, y, z, pe_x / norm,
                                pe_y / norm, pe_z / norm)
                    top = _push(stack, top, PHOTON, k_out, x, y, z, a, b, c)
                    break
                if r < mu_pair + mu_compton + mu_photo:
                    _deposit(e, x, y, slab, active, layer, radial, n_alpha, n_radial, voxels,
                             profile)
                    break
            continue
        # electrons and positrons: condensed-history steps
        while True:
            if slab < 0 or slab >= n_slabs:
                break  # escaped
            m = material[slab]
            range_mm = _interp(table[m, _RANGE], e)
            lo, hi = edges[slab], edges[slab + 1]
            if w > 0:
                to_edge = (hi - z) / w
            elif w < 0:
                to_edge = (lo - z) / w
            else:
                to_edge = np.inf
            below = e < t_cut
            if below and range_mm <= min(z - lo, hi - z):
                _deposit(e, x, y, slab, active, layer, radial, n_alpha, n_radial, voxels,
                         profile)
                if kind == POSITRON:
                    top = _annihilate(rng, stack, top, x, y, z)
                break
            to_hit = np.inf
            if not below:
                sigma = _interp(table[m, _BREMS], e) + _interp(table[m, _MOLLER], e)
                if sigma > 0:
                    to_hit = -np.log(1.0 - rng.random()) / sigma
            by_loss = range_mm if below else max_loss * range_mm
            step = max(min(to_hit, by_loss, to_edge + 1e-6), 1e-6)
            hit = to_hit <= step and not below
            e_new = _energy_at_range(table[m, _RANGE], max(range_mm - step, 0.0))
            loss = e - e_new
            if active[slab] and loss > 0:  # Landau-like fluctuations in read-out slabs
                gamma = e / ME + 1
                beta2 = 1 - 1 / (gamma * gamma)
                xi = atom[m, 4] * step / beta2
                top_t = min(t_cut, max(e / 2, landau_min * 1.0001))
                count = rng.poisson(xi * (1 / landau_min - 1 / top_t))
                close = 0.0
                for _ in range(count):
                    close += 1 / (1 / landau_min - rng.random() * (1 / landau_min - 1 / top_t))
                loss = min(max(loss - xi * np.log(top_t / landau_min) + close, 0.0), e)
                e_new = max(e - loss, 0.0)
            # multiple scattering: angle and lateral displacement sampled together
            t_mean = max(0.5 * (e + e_new), 1e-6)
            pc = np.sqrt(t_mean * (t_mean + 2 * ME))
            beta = pc / (t_mean + ME)
            if wentzel:  # 1 - <cos> = s / lambda_1 for a short step
                theta0 = min(np.sqrt(step * _interp(table[m, _TRANSPORT], t_mean)), 1.5)
            else:
                s_x0 = step / atom[m, 3]
                theta0 = 13.6 / (beta * pc) * np.sqrt(s_x0) * (
                    1 + 0.038 * np.log(max(s_x0 / beta**2, 1e-12)))
                theta0 = min(max(theta0, 0.0), 1.5)
            advance = step
            if path_correction:  # mean advance along u of a path of length `step`
                tau = theta0 * theta0  # step / transport mean free path (1 - <cos>)
                advance = step * (1 - np.exp(-tau)) / tau if tau > 1e-6 else step
            _deposit(loss, x + 0.5 * advance * u, y + 0.5 * advance * v, slab, active,
                     layer, radial, n_alpha, n_radial, voxels, profile)
            z1, z2 = rng.standard_normal(), rng.standard_normal()
            z3, z4 = rng.standard_normal(), rng.standard_normal()
            while sphere and 0.25 * theta0 * theta0 * (z2 * z2 + z4 * z4) > 1:
                z2, z4 = rng.standard_normal(), rng.standard_normal()
            tx, ty = z2 * theta0, z4 * theta0
            dx = step * theta0 * (z1 / np.sqrt(12) + z2 / 2)
            dy = step * theta0 * (z3 / np.sqrt(12) + z4 / 2)
            a1, b1, c1, a2, b2, c2 = _frame(u, v, w)
            x += advance * u + dx * a1 + dy * a2
            y += advance * v + dx * b1 + dy * b2
            z += advance * w + dx * c1 + dy * c2
            if sphere:  # polar angle with 1 - cos = (tx^2 + ty^2) / 2, azimuth of (tx, ty)
                t2 = tx * tx + ty * ty
                cos_t = 1 - 0.5 * t2
                scale = np.sqrt(max(1 - cos_t * cos_t, 0.0) / t2) if t2 > 0 else 0.0
                tx, ty = tx * scale, ty * scale
                u = cos_t * u + tx * a1 + ty * a2
                v = cos_t * v + tx * b1 + ty * b2
                w = cos_t * w + tx * c1 + ty * c2
            else:
                u, v, w = u + tx * a1 + ty * a2, v + tx * b1 + ty * b2, w + tx * c1 + ty * c2
            norm = np.sqrt(u * u + v * v + w * w)
            u, v, w = u / norm, v / norm, w / norm
            e = e_new
            slab = np.searchsorted(edges, z, side="right") - 1
            if e <= 1e-6:
                if kind == POSITRON and 0 <= slab < n_slabs:
                    top = _annihilate(rng, stack, top, x, y, z)
                break
            if not hit or slab < 0 or slab >= n_slabs:
                continue
            # discrete interaction at the end of the step (the material it was taken in)
            s_b = _interp(table[m, _BREMS], e)
            s_m = _interp(table[m, _MOLLER], e)
            if rng.random() * (s_b + s_m) < s_b and e > k_cut:
                k = _sample_brems(rng, atom[m], e, k_cut)
                a, b, c = _rotate(u, v, w, np.cos(ME / (e + ME)), rng.uniform(0.0, 2 * np.pi))
                top = _push(stack, top, PHOTON, k, x, y, z, a, b, c)
                e -= k
            elif e > 2 * t_cut:
                t_d = _sample_moller(rng, e, t_cut)
                t_p = e - t_d
                m2 = 2 * ME
                cos_d = np.sqrt(min(max(t_d * (e + m2) / (e * (t_d + m2)), 0.0), 1.0))
                cos_p = np.sqrt(min(max(t_p * (e + m2) / (e * (t_p + m2)), 0.0), 1.0))
                phi = rng.uniform(0.0, 2 * np.pi)
                a, b, c = _rotate(u, v, w, cos_d, phi)
                top = _push(stack, top, ELECTRON, t_d, x, y, z, a, b, c)
                u, v, w = _rotate(u, v, w, cos_p, phi + np.pi)
                e = t_p
