"""The reference calorimeter simulation: a particle-by-particle electromagnetic cascade
Monte Carlo in a layered sampling calorimeter (first version).

Every particle above the cuts is followed; all live particles of a shower advance one step
per iteration (vectorized in numpy). Interactions and their tables: :mod:`.physics`.

* **Photons** (energy >= ``k_cut``): Woodcock (delta) tracking across the slabs with the
  largest attenuation of all materials; at a real interaction pair production, Compton
  scattering or photoelectric absorption (its energy deposited on the spot). Photons below
  ``k_cut`` deposit their energy where they are created.
* **Electrons and positrons** (kinetic energy >= ``t_cut``): condensed-history steps, ended
  by a slab boundary, a discrete interaction (bremsstrahlung above ``k_cut``, Moller
  knock-on above ``t_cut``) or at most ``max_loss`` of the energy. Along a step: the
  continuous loss from the range table (restricted collision + soft radiative), with, in
  active slabs, Landau-like fluctuations (close collisions between ``landau_min`` and
  ``t_cut`` sampled as a Poisson number of 1/E^2 transfers); multiple scattering with the
  Highland angle, angle and lateral displacement sampled together (PDG, correlated
  Gaussians). Below ``t_cut`` a particle is still followed while its residual range can
  reach a slab boundary; otherwise its energy is deposited there. Positrons then annihilate
  at rest into two 511 keV photons (annihilation in flight is not simulated).
* Energy counts only in active slabs: the sampling fraction comes from the geometry. The
  deposits are binned into the layout's readout (layer, angle, radius around the incident
  axis); voxels below the threshold are zeroed.

Simplifications (named, to be measured against): Moller for positrons as well as electrons,
fixed production angles m/E for pair and bremsstrahlung products, no Rayleigh scattering,
no atomic relaxation, free-electron Compton, no LPM effect (it matters above ~200 GeV).

Each shower has its own random stream seeded from (seed, shower index): identical whatever
the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.fastsim import physics as ph
from aihep.fastsim.geometry import CaloLayout
from aihep.fastsim.materials import get_material

PHOTON, ELECTRON, POSITRON = 0, 1, 2


class CascadeConfig(BaseModel):
    """Production cuts and stepping of the cascade Monte Carlo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k_cut_mev: float = Field(0.1, gt=0, description="photon cut")
    t_cut_mev: float = Field(1.0, gt=0, description="electron kinetic-energy cut")
    max_loss: float = Field(0.2, gt=0, le=0.5, description="largest fractional loss per step")
    landau_min_mev: float = Field(0.01, gt=0, description="close collisions sampled above")
    particle: str = Field("electron", pattern="^(electron|positron|photon)$")


@dataclass
class _Particles:
    kind: np.ndarray
    energy: np.ndarray  # photons: energy; e+-: kinetic energy (MeV)
    pos: np.ndarray  # (n, 3) mm
    dir: np.ndarray  # (n, 3)

    @classmethod
    def empty(cls) -> _Particles:
        return cls(np.zeros(0, np.int8), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))

    def take(self, mask: np.ndarray) -> _Particles:
        return _Particles(self.kind[mask], self.energy[mask], self.pos[mask], self.dir[mask])

    def __len__(self) -> int:
        return len(self.kind)


def _join(parts: list[_Particles]) -> _Particles:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _Particles.empty()
    return _Particles(np.concatenate([p.kind for p in parts]),
                      np.concatenate([p.energy for p in parts]),
                      np.concatenate([p.pos for p in parts]),
                      np.concatenate([p.dir for p in parts]))


def rotate(d: np.ndarray, cos_t: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors d (n, 3) turned by polar angle acos(cos_t) at azimuth phi."""
    sin_t = np.sqrt(np.clip(1 - cos_t**2, 0.0, None))
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(d, e1)
    out = (cos_t[:, None] * d + sin_t[:, None] * (np.cos(phi)[:, None] * e1
                                                  + np.sin(phi)[:, None] * e2))
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class Calorimeter:
    """The slabs of a layout along z with their materials' tables."""

    def __init__(self, layout: CaloLayout, config: CascadeConfig) -> None:
        self.layout, self.config = layout, config
        names = sorted({s.material for s in layout.cell})
        self.tables = [ph.tables(get_material(n), config.k_cut_mev, config.t_cut_mev)
                       for n in names]
        cell_mat = np.array([names.index(s.material) for s in layout.cell])
        cell_active = np.array([s.active for s in layout.cell])
        thick = np.array([s.thickness_mm for s in layout.cell])
        n = layout.n_cells
        self.material = np.tile(cell_mat, n)
        self.active = np.tile(cell_active, n)
        self.cell_of_slab = np.repeat(np.arange(n), len(layout.cell))
        self.edges = np.concatenate([[0.0], np.cumsum(np.tile(thick, n))])
        self.depth = float(self.edges[-1])
        self.mu_max = np.max([t.mu_total for t in self.tables], axis=0)

    def slab(self, z: np.ndarray) -> np.ndarray:
        """Slab index of positions z (mm); -1 in front, n_slabs behind."""
        return np.searchsorted(self.edges, z, side="right") - 1


class _Deposits:
    def __init__(self) -> None:
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.slab: list[np.ndarray] = []
        self.e: list[np.ndarray] = []

    def add(self, pos: np.ndarray, slab: np.ndarray, energy: np.ndarray,
            calo: Calorimeter) -> None:
        inside = (slab >= 0) & (slab < len(calo.active))
        keep = inside & calo.active[np.clip(slab, 0, len(calo.active) - 1)] & (energy > 0)
        if keep.any():
            self.x.append(pos[keep, 0])
            self.y.append(pos[keep, 1])
            self.slab.append(slab[keep])
            self.e.append(energy[keep])

    def voxels(self, calo: Calorimeter) -> np.ndarray:
        layout = calo.layout
        out = np.zeros(layout.n_voxels)
        if not self.e:
            return out
        x, y = np.concatenate(self.x), np.concatenate(self.y)
        slab, e = np.concatenate(self.slab), np.concatenate(self.e)
        layer = calo.cell_of_slab[slab] // layout.cells_per_layer
        r = np.hypot(x, y)
        rbin = np.searchsorted(np.asarray(layout.radial_edges_mm), r, side="right") - 1
        abin = np.minimum(((np.arctan2(y, x) + np.pi) / (2 * np.pi) * layout.n_alpha
                           ).astype(int), layout.n_alpha - 1)
        ok = rbin < layout.n_radial
        index = (layer * layout.n_alpha + abin) * layout.n_radial + rbin
        np.add.at(out, index[ok], e[ok])
        return out


def simulate_shower(calo: Calorimeter, energy_mev: float, rng: np.random.Generator,
                    profile: np.ndarray | None = None) -> np.ndarray:
    """Voxel energies (MeV) of one shower of a particle entering at the origin along z.

    With ``profile`` (an array of n_slabs), the energy deposited in every slab, active or
    not, is added to it (for validation: longitudinal profiles, containment)."""
    config = calo.config
    kind = {"electron": ELECTRON, "positron": POSITRON, "photon": PHOTON}[config.particle]
    start = energy_mev if kind == PHOTON else energy_mev - ph.ME
    live = _Particles(np.array([kind], np.int8), np.array([start]),
                      np.array([[0.0, 0.0, 1e-9]]), np.array([[0.0, 0.0, 1.0]]))
    deposits = _Deposits()
    while len(live):
        photons = live.take(live.kind == PHOTON)
        charged = live.take(live.kind != PHOTON)
        new = [_photon_step(calo, photons, rng, deposits, profile),
               _charged_step(calo, charged, rng, deposits, profile)]
        live = _join([p for part in new for p in part])
    voxels = deposits.voxels(calo)
    voxels[voxels < calo.layout.threshold_mev] = 0.0
    return voxels


def _deposit(calo: Calorimeter, deposits: _Deposits, pos: np.ndarray, slab: np.ndarray,
             energy: np.ndarray, profile: np.ndarray | None) -> None:
    deposits.add(pos, slab, energy, calo)
    if profile is not None:
        inside = (slab >= 0) & (slab < len(profile))
        np.add.at(profile, slab[inside], energy[inside])


def _photon_step(calo: Calorimeter, p: _Particles, rng: np.random.Generator,
                 deposits: _Deposits, profile: np.ndarray | None) -> list[_Particles]:
    if not len(p):
        return []
    config = calo.config
    low = p.energy < config.k_cut_mev
    if low.any():  # below the cut: absorbed on the spot
        q = p.take(low)
        _deposit(calo, deposits, q.pos, calo.slab(q.pos[:, 2]), q.energy, profile)
        p = p.take(~low)
        if not len(p):
            return []
    k = p.energy
    mu_max = ph.interp(calo.mu_max, k)
    step = -np.log(rng.random(len(k))) / mu_max
    pos = p.pos + step[:, None] * p.dir
    slab = calo.slab(pos[:, 2])
    inside = (slab >= 0) & (slab < len(calo.material))
    p = _Particles(p.kind[inside], k[inside], pos[inside], p.dir[inside])
    slab = slab[inside]
    k, mu_max = p.energy, mu_max[inside]
    mat = calo.material[slab]
    mu = np.empty((3, len(k)))
    for m, table in enumerate(calo.tables):
        sel = mat == m
        if sel.any():
            mu[0, sel] = ph.interp(table.mu_pair, k[sel])
            mu[1, sel] = ph.interp(table.mu_compton, k[sel])
            mu[2, sel] = ph.interp(table.mu_photo, k[sel])
    u = rng.random(len(k)) * mu_max
    pair = u < mu[0]
    compton = ~pair & (u < mu[0] + mu[1])
    photo = ~pair & ~compton & (u < mu.sum(0))
    virtual = ~(pair | compton | photo)
    out = [p.take(virtual)]
    if photo.any():
        _deposit(calo, deposits, p.pos[photo], slab[photo], k[photo], profile)
    if compton.any():
        q = p.take(compton)
        eps, cos = ph.sample_compton(q.energy, rng)
        phi = rng.uniform(0, 2 * np.pi, len(q))
        k_out = eps * q.energy
        t_e = q.energy - k_out
        # electron direction from momentum conservation
        p_gamma = rotate(q.dir, cos, phi) * k_out[:, None]
        p_e = q.dir * q.energy[:, None] - p_gamma
        d_e = p_e / np.maximum(np.linalg.norm(p_e, axis=1, keepdims=True), 1e-300)
        out.append(_Particles(q.kind, k_out, q.pos, p_gamma / k_out[:, None]))
        out.append(_Particles(np.full(len(q), ELECTRON, np.int8), t_e, q.pos.copy(), d_e))
    if pair.any():
        q = p.take(pair)
        m = calo.material[slab[pair]]
        eps = np.empty(len(q))
        for i, table in enumerate(calo.tables):
            sel = m == i
            if sel.any():
                eps[sel] = ph.sample_pair_fraction(table.atom, q.energy[sel], rng)
        e_minus = eps * q.energy
        e_plus = q.energy - e_minus
        phi = rng.uniform(0, 2 * np.pi, len(q))
        d_minus = rotate(q.dir, np.cos(ph.ME / e_minus), phi)
        d_plus = rotate(q.dir, np.cos(ph.ME / e_plus), phi + np.pi)
        out.append(_Particles(np.full(len(q), ELECTRON, np.int8), e_minus - ph.ME,
                              q.pos.copy(), d_minus))
        out.append(_Particles(np.full(len(q), POSITRON, np.int8), e_plus - ph.ME,
                              q.pos.copy(), d_plus))
    return out


def _annihilate(p: _Particles, rng: np.random.Generator) -> list[_Particles]:
    """Two back-to-back 511 keV photons per positron at rest."""
    pos = p.pos[p.kind == POSITRON]
    if not len(pos):
        return []
    cos = rng.uniform(-1, 1, len(pos))
    phi = rng.uniform(0, 2 * np.pi, len(pos))
    sin = np.sqrt(1 - cos**2)
    d = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], 1)
    kind = np.zeros(2 * len(pos), np.int8)
    return [_Particles(kind, np.full(2 * len(pos), ph.ME), np.concatenate([pos, pos]),
                       np.concatenate([d, -d]))]


def _charged_step(calo: Calorimeter, p: _Particles, rng: np.random.Generator,
                  deposits: _Deposits, profile: np.ndarray | None) -> list[_Particles]:
    if not len(p):
        return []
    config = calo.config
    slab = calo.slab(p.pos[:, 2])
    inside = (slab >= 0) & (slab < len(calo.material))
    p, slab = p.take(inside), slab[inside]
    if not len(p):
        return []
    mat = calo.material[slab]
    t = p.energy
    n = len(t)
    rng_mm = np.empty(n)
    sigma_b = np.empty(n)
    sigma_m = np.empty(n)
    x0 = np.empty(n)
    for m, table in enumerate(calo.tables):
        sel = mat == m
        if sel.any():
            rng_mm[sel] = ph.interp(table.range_mm, t[sel])
            sigma_b[sel] = ph.interp(table.sigma_brems, t[sel])
            sigma_m[sel] = ph.interp(table.sigma_moller, t[sel])
            x0[sel] = table.x0_mm
    lo, hi = calo.edges[slab], calo.edges[slab + 1]
    w = p.dir[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        to_edge = np.where(w > 0, (hi - p.pos[:, 2]) / w,
                           np.where(w < 0, (lo - p.pos[:, 2]) / w, np.inf))
    nearest = np.minimum(p.pos[:, 2] - lo, hi - p.pos[:, 2])
    below = t < config.t_cut_mev
    # below the cut: stop here unless the residual range reaches a boundary
    stop = below & (rng_mm <= nearest)
    out: list[_Particles] = []
    if stop.any():
        q = p.take(stop)
        _deposit(calo, deposits, q.pos, slab[stop], q.energy, profile)
        out += _annihilate(q, rng)
    keep = ~stop
    p, slab, mat, t = p.take(keep), slab[keep], mat[keep], t[keep]
    rng_mm, sigma_b, sigma_m, x0 = rng_mm[keep], sigma_b[keep], sigma_m[keep], x0[keep]
    to_edge, below = to_edge[keep], below[keep]
    if not len(p):
        return out
    n = len(t)
    sigma = np.where(below, 0.0, sigma_b + sigma_m)
    with np.errstate(divide="ignore"):
        to_hit = np.where(sigma > 0, -np.log(rng.random(n)) / sigma, np.inf)
    by_loss = np.where(below, rng_mm, config.max_loss * rng_mm)
    step = np.minimum(np.minimum(to_hit, by_loss), to_edge + 1e-6)
    step = np.maximum(step, 1e-6)
    hit = (to_hit <= step) & ~below
    # continuous energy loss from the range table
    t_new = np.empty(n)
    for m, table in enumerate(calo.tables):
        sel = mat == m
        if sel.any():
            residual = np.maximum(rng_mm[sel] - step[sel], 0.0)
            t_new[sel] = np.exp(np.interp(residual, table.range_mm, np.log(ph.GRID)))
            t_new[sel] = np.where(residual <= table.range_mm[0], 0.0, t_new[sel])
    loss = t - t_new
    active = calo.active[slab]
    if active.any():  # Landau-like fluctuations in the read-out slabs
        loss = _fluctuate(calo, loss, t, step, mat, active, rng)
        t_new = np.maximum(t - loss, 0.0)
    mid = p.pos + 0.5 * step[:, None] * p.dir
    _deposit(calo, deposits, mid, slab, loss, profile)
    # multiple scattering: angle and lateral displacement sampled together
    t_mean = np.maximum(0.5 * (t + t_new), 1e-6)
    pc = np.sqrt(t_mean * (t_mean + 2 * ph.ME))
    beta = pc / (t_mean + ph.ME)
    s_x0 = step / x0
    theta0 = 13.6 / (beta * pc) * np.sqrt(s_x0) * (1 + 0.038 * np.log(np.maximum(
        s_x0 / beta**2, 1e-12)))
    theta0 = np.clip(theta0, 0.0, 1.5)
    z1, z2, z3, z4 = rng.standard_normal((4, n))
    tx, ty = z2 * theta0, z4 * theta0
    dx = step * theta0 * (z1 / np.sqrt(12) + z2 / 2)
    dy = step * theta0 * (z3 / np.sqrt(12) + z4 / 2)
    helper = np.where(np.abs(p.dir[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(p.dir, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(p.dir, e1)
    pos = p.pos + step[:, None] * p.dir + dx[:, None] * e1 + dy[:, None] * e2
    d = p.dir + tx[:, None] * e1 + ty[:, None] * e2
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    gone = t_new <= 1e-6
    if gone.any():
        out += _annihilate(_Particles(p.kind[gone], t_new[gone], pos[gone], d[gone]), rng)
    alive = ~gone
    moving = _Particles(p.kind[alive], t_new[alive], pos[alive], d[alive])
    hit = hit[alive]
    mat_alive = mat[alive]
    out.append(moving.take(~hit))
    if hit.any():
        out += _discrete(calo, moving.take(hit), mat_alive[hit], rng)
    return out


def _fluctuate(calo: Calorimeter, loss: np.ndarray, t: np.ndarray, step: np.ndarray,
               mat: np.ndarray, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Losses with close collisions (landau_min .. t_cut) sampled in the active slabs."""
    config = calo.config
    lo = config.landau_min_mev
    out = loss.copy()
    idx = np.flatnonzero(active & (loss > 0))
    if not len(idx):
        return out
    gamma = t[idx] / ph.ME + 1
    beta2 = 1 - 1 / gamma**2
    xi = np.array([calo.tables[m].xi_mev_mm for m in mat[idx]]) * step[idx] / beta2
    hi = np.minimum(config.t_cut_mev, np.maximum(t[idx] / 2, lo * 1.0001))
    mean_close = xi * np.log(hi / lo)
    count = rng.poisson(xi * (1 / lo - 1 / hi))
    total = np.zeros(len(idx))
    if count.sum():
        owner = np.repeat(np.arange(len(idx)), count)
        u = rng.random(len(owner))
        transfer = 1 / (1 / lo - u * (1 / lo - 1 / hi[owner]))  # ~ 1/E^2 on [lo, hi]
        np.add.at(total, owner, transfer)
    out[idx] = np.clip(loss[idx] - mean_close + total, 0.0, t[idx])
    return out


def _discrete(calo: Calorimeter, p: _Particles, mat: np.ndarray,
              rng: np.random.Generator) -> list[_Particles]:
    """Bremsstrahlung or Moller scattering at the end of a step."""
    config = calo.config
    t = p.energy
    n = len(t)
    sigma_b, sigma_m = np.empty(n), np.empty(n)
    for m, table in enumerate(calo.tables):
        sel = mat == m
        if sel.any():
            sigma_b[sel] = ph.interp(table.sigma_brems, t[sel])
            sigma_m[sel] = ph.interp(table.sigma_moller, t[sel])
    total = sigma_b + sigma_m
    brems = (rng.random(n) * total < sigma_b) & (t > config.k_cut_mev)
    moller = ~brems & (t > 2 * config.t_cut_mev)
    out = [p.take(~brems & ~moller)]
    if brems.any():
        q = p.take(brems)
        k = np.empty(len(q))
        for m, table in enumerate(calo.tables):
            sel = mat[brems] == m
            if sel.any():
                k[sel] = ph.sample_brems_photon(table.atom, q.energy[sel], config.k_cut_mev,
                                                rng)
        phi = rng.uniform(0, 2 * np.pi, len(q))
        d_gamma = rotate(q.dir, np.cos(ph.ME / (q.energy + ph.ME)), phi)
        out.append(_Particles(np.zeros(len(q), np.int8), k, q.pos.copy(), d_gamma))
        out.append(_Particles(q.kind, q.energy - k, q.pos, q.dir))
    if moller.any():
        q = p.take(moller)
        t_d = ph.sample_moller(q.energy, config.t_cut_mev, rng)
        t_p = q.energy - t_d
        m2 = 2 * ph.ME
        cos_d = np.sqrt(np.clip(t_d * (q.energy + m2) / (q.energy * (t_d + m2)), 0, 1))
        cos_p = np.sqrt(np.clip(t_p * (q.energy + m2) / (q.energy * (t_p + m2)), 0, 1))
        phi = rng.uniform(0, 2 * np.pi, len(q))
        out.append(_Particles(np.full(len(q), ELECTRON, np.int8), t_d, q.pos.copy(),
                              rotate(q.dir, cos_d, phi)))
        out.append(_Particles(q.kind, t_p, q.pos, rotate(q.dir, cos_p, phi + np.pi)))
    return out


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
