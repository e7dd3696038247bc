"""Electromagnetic interactions for the reference cascade Monte Carlo: cross-section tables
and samplers (EGS4-style analytic forms).

Per material, on a logarithmic energy grid:

* **Pair production** (photons): Bethe-Heitler with the Butcher-Messel screening functions
  and the Coulomb correction, normalized to the material's radiation length X0 (complete
  screening gives 7/9 X0^-1 - 1/(54 L X0)).
* **Compton scattering**: Klein-Nishina on the material's electrons (free-electron
  approximation).
* **Photoelectric absorption**: the Elam tables (``xraydb``) up to 500 keV, extrapolated as
  E^-1.5 above (where Compton dominates).
* **Bremsstrahlung** (e+-): the same screened Bethe-Heitler form; photons above the photon
  cut ``k_cut`` are discrete, below it their energy is a continuous (radiative) loss.
* **Moller scattering**: knock-on electrons above ``t_cut`` are discrete (the Moller
  cross section is used for positrons too: Bhabha differs by a few per cent there).
* **Collision stopping power** below ``t_cut``: the restricted Bethe formula (ICRU 37, the
  electron form for both charges) with a high-energy density-effect correction.

Energies in MeV, lengths in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from aihep.fastsim.materials import Material

ME = 0.51099895  # electron mass (MeV)
ALPHA = 1.0 / 137.035999
R_E_CM = 2.8179403262e-13
N_A = 6.02214076e23
K_HALF = 0.1535375  # 2 pi N_A r_e^2 m_e c^2 (MeV cm^2 / mol)
GRID = np.logspace(-3, 6, 541)  # 1 keV .. 1 TeV
E2_MEV_MM = 1.439964548e-12  # e^2 / (4 pi eps0) = alpha hbar c
HBARC_MEV_MM = 1.973269804e-10
BOHR_MM = 5.29177210903e-8


def z_eff(material: Material) -> float:
    """Radiation-weighted Z of a material (its Z for an element)."""
    from aihep.fastsim.materials import atomic_mass

    num = sum(w * z * z / atomic_mass(z) for z, w in material.composition.items())
    den = sum(w * z / atomic_mass(z) for z, w in material.composition.items())
    return num / den


def coulomb_correction(z: float) -> float:
    a2 = (ALPHA * z) ** 2
    return a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)


def screening(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Butcher-Messel screening functions phi1, phi2 of delta."""
    delta = np.asarray(delta, float)
    low = delta <= 1.0
    far = 21.12 - 4.184 * np.log(np.where(low, 1.0, delta) + 0.952)
    phi1 = np.where(low, 20.867 - 3.242 * delta + 0.625 * delta**2, far)
    phi2 = np.where(low, 20.209 - 1.930 * delta - 0.086 * delta**2, far)
    return phi1, phi2


@dataclass(frozen=True)
class _Atom:
    z: float
    lnz3: float  # ln(Z) / 3
    fc: float
    lrad: float  # ln(184.15 Z^-1/3) - f_c

    @classmethod
    def of(cls, material: Material) -> _Atom:
        z = z_eff(material)
        fc = coulomb_correction(z) if z > 1 else 0.0
        return cls(z, np.log(z) / 3.0, fc, np.log(184.15 * z ** (-1 / 3)) - fc)


def pair_shape(atom: _Atom, k_mev: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """dsigma/deps of pair production x X0 x L (>= 0): eps = electron total energy / k."""
    delta = 136.0 * ME * atom.z ** (-1 / 3) / (k_mev * eps * (1 - eps))
    phi1, phi2 = screening(delta)
    a = phi1 / 4 - atom.lnz3 - atom.fc
    b = phi2 / 4 - atom.lnz3 - atom.fc
    return np.maximum((eps**2 + (1 - eps) ** 2) * a + (2 / 3) * eps * (1 - eps) * b, 0.0)


def brems_shape(atom: _Atom, e_total: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k dsigma/dk of bremsstrahlung x X0 x L (>= 0): y = photon energy / electron energy."""
    delta = 136.0 * ME * atom.z ** (-1 / 3) * y / (e_total * np.maximum(1 - y, 1e-12))
    phi1, phi2 = screening(delta)
    a = phi1 / 4 - atom.lnz3 - atom.fc
    b = phi2 / 4 - atom.lnz3 - atom.fc
    return np.maximum((1 + (1 - y) ** 2) * a - (2 / 3) * (1 - y) * b, 0.0)


def klein_nishina(k_mev: np.ndarray) -> np.ndarray:
    """Klein-Nishina total cross section per electron (cm^2)."""
    x = np.asarray(k_mev, float) / ME
    lg = np.log1p(2 * x)
    return 2 * np.pi * R_E_CM**2 * ((1 + x) / x**2 * (2 * (1 + x) / (1 + 2 * x) - lg / x)
                                    + lg / (2 * x) - (1 + 3 * x) / (1 + 2 * x) ** 2)


def _photo_cm2_g(material: Material, k_mev: np.ndarray) -> np.ndarray:
    import warnings

    import xraydb

    k = np.asarray(k_mev, float)
    table = np.minimum(k, 0.5)
    total = np.zeros_like(k)
    for z, w in material.composition.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mu = np.asarray(xraydb.mu_elam(xraydb.atomic_symbol(z), np.maximum(table, 1e-3)
                                           * 1e6, kind="photo"), float)
        total += w * mu * (k / table) ** -1.5
    return total


def _integrate(f: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid integral of f(..., x) over the last axis."""
    return np.sum(0.5 * (f[..., 1:] + f[..., :-1]) * np.diff(x, axis=-1), axis=-1)


@dataclass(frozen=True)
class Tables:
    """Cross sections (1/mm), stopping powers (MeV/mm) and ranges (mm) of one material on
    :data:`GRID`; the photon cut ``k_cut`` and electron cut ``t_cut`` are built in."""

    material: Material
    k_cut: float
    t_cut: float
    atom: _Atom
    x0_mm: float
    mu_pair: np.ndarray
    mu_compton: np.ndarray
    mu_photo: np.ndarray
    sigma_brems: np.ndarray
    sigma_moller: np.ndarray
    stopping: np.ndarray  # restricted collision + soft radiative
    range_mm: np.ndarray
    xi_mev_mm: float  # K/2 Z/A rho (MeV/mm), the Landau scale at beta = 1
    transport: np.ndarray  # 1 / lambda_1 (1/mm) of electrons, elastic (Wentzel)

    @property
    def mu_total(self) -> np.ndarray:
        return self.mu_pair + self.mu_compton + self.mu_photo


def _collision_stopping(material: Material, t: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Restricted collision stopping power (MeV/mm) of electrons of kinetic energy t."""
    tau = t / ME
    gamma = tau + 1
    beta2 = 1 - 1 / gamma**2
    delta_cut = np.minimum(cut, t / 2) / ME
    i_ratio = material.mean_excitation_ev * 1e-6 / ME
    f_minus = (-1 - beta2 + np.log((tau - delta_cut) * delta_cut) + tau / (tau - delta_cut)
               + (delta_cut**2 / 2 + (2 * tau + 1) * np.log(1 - delta_cut / tau)) / gamma**2)
    plasma_ev = 28.816 * np.sqrt(material.density_g_cm3 * material.z_over_a)
    density = np.maximum(2 * np.log(np.sqrt(beta2) * gamma)
                         + 2 * np.log(plasma_ev / material.mean_excitation_ev) - 1, 0.0)
    per_cm = (K_HALF * material.z_over_a * material.density_g_cm3 / beta2
              * (np.log(2 * (tau + 2) / i_ratio**2) + f_minus - density))
    return np.maximum(per_cm, 0.0) / 10.0


def inverse_transport_mfp(material: Material, t: np.ndarray) -> np.ndarray:
    """1 / lambda_1 (1/mm) of electrons of kinetic energy ``t`` (MeV): the transport cross
    section of elastic scattering, sigma_1 = int (1 - cos theta) dsigma, of the screened
    Rutherford (Wentzel) cross section Z(Z + 1) (e^2 / p v)^2 / (1 - cos theta + 2 A)^2
    (Z(Z + 1): the atomic electrons too) with Moliere's screening parameter
    A = (hbar / 2 p a)^2 (1.13 + 3.76 (alpha Z / beta)^2), a = 0.885 a_0 Z^-1/3:
    sigma_1 = 2 pi Z (Z + 1) (e^2 / p v)^2 (ln(1 + 1 / A) - 1 / (1 + A)), summed over the
    elements. A step of length s then has <cos theta> = exp(-s / lambda_1), whatever the
    step: the scattering composes over steps (a Highland angle per step does not: its
    logarithm makes many short steps scatter less than one long one)."""
    from aihep.fastsim.materials import atomic_mass

    t = np.asarray(t, float)
    pc2 = t * (t + 2 * ME)
    beta2 = pc2 / (t + ME) ** 2
    pv = pc2 / (t + ME)
    out = np.zeros_like(t)
    for z, w in material.composition.items():
        atoms_per_mm3 = material.density_g_cm3 * w * N_A / atomic_mass(z) * 1e-3
        a_mm = 0.885 * BOHR_MM * z ** (-1 / 3)
        screen = (HBARC_MEV_MM / (2 * np.sqrt(pc2) * a_mm)) ** 2 * (
            1.13 + 3.76 * (ALPHA * z) ** 2 / beta2)
        sigma = (2 * np.pi * z * (z + 1) * (E2_MEV_MM / pv) ** 2
                 * (np.log1p(1 / screen) - 1 / (1 + screen)))
        out += atoms_per_mm3 * sigma
    return out


def tables(material: Material, k_cut: float, t_cut: float) -> Tables:
    """The tables of ``material`` with photon cut ``k_cut`` and electron cut ``t_cut`` (MeV)."""
    return _tables(material.model_dump_json(), k_cut, t_cut)


@lru_cache(maxsize=64)
def _tables(material_json: str, k_cut: float, t_cut: float) -> Tables:
    material = Material.model_validate_json(material_json)
    atom = _Atom.of(material)
    x0 = material.x0_mm
    e = GRID
    # pair production
    mu_pair = np.zeros_like(e)
    above = e > 2 * ME * 1.0001
    for i in map(int, np.flatnonzero(above)):
        eps = np.linspace(ME / e[i], 1 - ME / e[i], 257)
        mu_pair[i] = _integrate(pair_shape(atom, e[i], eps), eps) / (atom.lrad * x0)
    n_el_per_mm3 = material.density_g_cm3 * N_A * material.z_over_a * 1e-3
    mu_compton = n_el_per_mm3 * klein_nishina(e) * 100.0
    mu_photo = _photo_cm2_g(material, e) * material.density_g_cm3 / 10.0
    # electrons: t = kinetic energy on the grid
    t = e
    etot = t + ME
    sigma_brems = np.zeros_like(t)
    soft = np.zeros_like(t)
    for i in range(len(t)):
        top = t[i]
        if top > k_cut:
            k = np.geomspace(k_cut, top, 129)
            sigma_brems[i] = _integrate(brems_shape(atom, etot[i], k / etot[i]) / k, k)
        kk = np.linspace(0.0, min(k_cut, top), 65)
        soft[i] = _integrate(brems_shape(atom, etot[i], kk / etot[i]), kk)
    sigma_brems /= atom.lrad * x0
    soft /= atom.lrad * x0
    sigma_moller = np.zeros_like(t)
    for i in map(int, np.flatnonzero(t > 2 * t_cut)):
        eps = np.geomspace(t_cut / t[i], 0.5, 129)
        sigma_moller[i] = _integrate(moller_shape(t[i], eps), eps)
    gamma = t / ME + 1
    beta2 = 1 - 1 / gamma**2
    sigma_moller *= K_HALF * material.z_over_a * material.density_g_cm3 / (beta2 * t) / 10.0
    stopping = _collision_stopping(material, t, np.full_like(t, t_cut)) + soft
    inv = 1.0 / np.maximum(stopping, 1e-12)
    range_mm = np.concatenate([[t[0] * inv[0]], t[0] * inv[0] + np.cumsum(
        0.5 * (inv[1:] + inv[:-1]) * np.diff(t))])
    xi = K_HALF * material.z_over_a * material.density_g_cm3 / 10.0
    return Tables(material, k_cut, t_cut, atom, x0, mu_pair, mu_compton, mu_photo,
                  sigma_brems, sigma_moller, stopping, range_mm, xi,
                  inverse_transport_mfp(material, t))


def moller_shape(t_mev: float | np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Moller dsigma/deps up to 2 pi r_e^2 m / (beta^2 t): eps = knock-on / kinetic energy."""
    tau = np.asarray(t_mev, float) / ME
    g = tau / (tau + 1)
    return (1 / eps**2 + 1 / (1 - eps) ** 2 + g**2
            - (2 * tau + 1) / (tau + 1) ** 2 / (eps * (1 - eps)))


def interp(table: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """A table's value at ``energy`` (log-log interpolation, zeros kept)."""
    x = np.log(np.clip(energy, GRID[0], GRID[-1]))
    return np.interp(x, np.log(GRID), table)


# -- samplers (vectorized; rejection loops run until every row is accepted) ----------------

def sample_pair_fraction(atom: _Atom, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Electron total-energy fraction eps of pair production for photon energies k."""
    out = np.empty(len(k))
    todo = np.arange(len(k))
    lo_all = ME / k
    bound = 1.05 * np.maximum(pair_shape(atom, k, np.full(len(k), 0.5)),
                              pair_shape(atom, k, lo_all + 1e-9))
    while len(todo):
        lo = lo_all[todo]
        eps = lo + (1 - 2 * lo) * rng.random(len(todo))
        ok = rng.random(len(todo)) * bound[todo] <= pair_shape(atom, k[todo], eps)
        out[todo[ok]] = eps[ok]
        todo = todo[~ok]
    return out


def sample_brems_photon(atom: _Atom, t: np.ndarray, k_cut: float,
                        rng: np.random.Generator) -> np.ndarray:
    """Photon energy (> k_cut) of a bremsstrahlung by electrons of kinetic energy t."""
    out = np.empty(len(t))
    todo = np.arange(len(t))
    etot = t + ME
    while len(todo):
        k = k_cut * (t[todo] / k_cut) ** rng.random(len(todo))
        shape = brems_shape(atom, etot[todo], k / etot[todo])
        ok = rng.random(len(todo)) * (4 / 3 + 0.2) <= shape
        out[todo[ok]] = k[ok]
        todo = todo[~ok]
    return out


def sample_moller(t: np.ndarray, t_cut: float, rng: np.random.Generator) -> np.ndarray:
    """Knock-on kinetic energy (> t_cut, <= t/2) of Moller scattering at kinetic energy t."""
    out = np.empty(len(t))
    todo = np.arange(len(t))
    while len(todo):
        e0 = t_cut / t[todo]
        eps = e0 / (1 - rng.random(len(todo)) * (1 - 2 * e0))  # ~ 1/eps^2 on [e0, 1/2]
        ok = rng.random(len(todo)) * 2.25 <= eps**2 * moller_shape(t[todo], eps)
        out[todo[ok]] = eps[ok] * t[todo[ok]]
        todo = todo[~ok]
    return out


def sample_compton(k: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scattered-photon energy fraction and cos(theta) of Compton scattering (Klein-Nishina,
    the Butcher-Messel sampling)."""
    kappa = k / ME
    e0 = 1 / (1 + 2 * kappa)
    a1, a2 = -np.log(e0), (1 - e0**2) / 2
    out = np.empty(len(k))
    cos = np.empty(len(k))
    todo = np.arange(len(k))
    while len(todo):
        u1, u2, u3 = rng.random((3, len(todo)))
        first = a1[todo] / (a1[todo] + a2[todo]) > u1
        eps = np.where(first, np.exp(-a1[todo] * u2),
                       np.sqrt(e0[todo] ** 2 + (1 - e0[todo] ** 2) * u2))
        one_minus_cos = (1 - eps) / (eps * kappa[todo])
        sin2 = one_minus_cos * (2 - one_minus_cos)
        ok = 1 - eps * sin2 / (1 + eps**2) >= u3
        out[todo[ok]] = eps[ok]
        cos[todo[ok]] = 1 - one_minus_cos[ok]
        todo = todo[~ok]
    return out, cos
