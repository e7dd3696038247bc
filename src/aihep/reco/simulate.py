"""Muon tracks in a water-Cherenkov telescope: light yield, photon transport, hits.

Physics (every number is a field of :class:`SimConfig` or :class:`~aihep.reco.medium.Medium`):

- **Muons**: through-going, energy from dN/dE ~ E^-gamma in [E_min, E_max] (default 1-100 TeV,
  gamma = 1: equal numbers per decade), isotropic directions; the track crosses a disk
  perpendicular to it through the detector centre, of the radius of the detector's bounding
  sphere plus a margin, and starts (its vertex, t0 = 0) outside that sphere.
- **Energy loss**: dE/dx = a + b E (water: a = 0.259 GeV/m, b = 3.63e-4 /m). Ionization gives
  the bare-muon Cherenkov light (3.45e4 photons/m in 300-600 nm). Radiative losses b E give
  cascade light (1.3e5 photons per GeV): a fraction (``stochastic_fraction``) as discrete
  cascades (fractional losses v ~ 1/v in [v_min, 1], point-like, isotropic emission), the
  rest continuously along the track at the Cherenkov angle.
- **Photon transport**: expected photo-electrons at a DOM from a line source,
  A_eff dN/dx / (2 pi rho sin(theta_c)) exp(-path / lambda_abs); from a cascade
  A_eff N / (4 pi D^2) exp(-D / lambda_abs); Poisson sampled. Arrival time: direct time at
  the group velocity plus a scattering delay from *sampled scattering events*: Poisson(D /
  lambda_scat) scatterings at uniform positions, Henyey-Greenstein deflections, the photon
  advancing along the direct line at its current angle (extra path = sum seg (1/cos - 1));
  a photon turned by more than ~84 degrees is lost, and the extra path is absorbed
  (survival exp(-extra / lambda_abs)). Scattering redistributes arrival times, not the
  average photon count (light scattered away from a DOM is replaced by light scattered in).
  The likelihood's Pandel model is thus an approximation, as in a real detector.
- **Readout**: PMT time jitter (Gaussian), dark-noise (K40) photo-electrons uniform in the
  event window, photo-electrons of a DOM within ``pulse_merge_ns`` merged into one hit.
  An event is kept when at least ``min_hit_doms`` DOMs have a signal photo-electron.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep._atomic import ensure_writable_dir, write_atomic
from aihep.errors import ConfigError
from aihep.reco.geometry import Geometry, LayoutConfig, hexagonal_layout, save_geometry
from aihep.reco.medium import C_VACUUM_M_PER_NS, Medium
from aihep.reco.track import direct_time, direction
from aihep.workflow.chunks import ChunkJob, ChunkStore, Writer, run_waves

HIT_FIELDS = ("dom", "x", "y", "z", "t", "npe")
TRUTH_FIELDS = ("energy_tev", "zenith", "azimuth", "dir_x", "dir_y", "dir_z", "vertex_x",
                "vertex_y", "vertex_z", "t0")


class SimConfig(BaseModel):
    """Muon, light and readout settings (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    energy_min_tev: float = Field(1.0, gt=0)
    energy_max_tev: float = Field(100.0, gt=0)
    spectral_index: float = Field(1.0, description="dN/dE ~ E^-index")
    generation_margin_m: float = Field(50.0, ge=0)
    ionization_gev_per_m: float = Field(0.259, ge=0)
    radiative_per_m: float = Field(3.63e-4, ge=0)
    bare_photons_per_m: float = Field(3.45e4, ge=0)
    cascade_photons_per_gev: float = Field(1.3e5, ge=0)
    stochastic: bool = True
    stochastic_fraction: float = Field(0.5, ge=0, le=1)
    stochastic_v_min: float = Field(1e-4, gt=0, lt=1)
    dom_effective_area_m2: float = Field(0.03, gt=0, description="incl. quantum efficiency")
    jitter_ns: float = Field(2.0, ge=0)
    dark_rate_hz: float = Field(5e3, ge=0, description="per DOM")
    window_margin_ns: float = Field(500.0, ge=0)
    pulse_merge_ns: float = Field(5.0, ge=0)
    max_scatterings: int = Field(30, ge=0)
    min_hit_doms: int = Field(8, ge=1)
    medium: Medium = Field(default_factory=Medium)
    layout: LayoutConfig = Field(default_factory=LayoutConfig)

    def check(self) -> None:
        if self.energy_max_tev < self.energy_min_tev:
            msg = (f"energy_max_tev ({self.energy_max_tev}) must be >= energy_min_tev "
                   f"({self.energy_min_tev})")
            raise ConfigError(msg)


@dataclass(frozen=True)
class Muon:
    """Truth of one track: energy (TeV), direction, vertex (m) and t0 (ns) at the vertex."""

    energy_tev: float
    zenith: float
    azimuth: float
    direction: np.ndarray
    vertex: np.ndarray
    t0: float
    length_m: float


def sample_muon(config: SimConfig, geometry: Geometry, rng: np.random.Generator) -> Muon:
    """A through-going muon (see the module docstring)."""
    u = rng.random()
    lo, hi, g = config.energy_min_tev, config.energy_max_tev, config.spectral_index
    if abs(g - 1.0) < 1e-9:
        energy = lo * (hi / lo) ** u
    else:
        energy = (lo ** (1 - g) + u * (hi ** (1 - g) - lo ** (1 - g))) ** (1 / (1 - g))
    zenith = float(np.arccos(rng.uniform(-1.0, 1.0)))
    azimuth = float(rng.uniform(0.0, 2 * np.pi))
    d = direction(zenith, azimuth)
    sphere = float(np.linalg.norm(geometry.positions, axis=1).max()) + config.generation_margin_m
    # impact point uniform on the disk through the origin perpendicular to d
    a = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(d, a)
    r, phi = sphere * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
    impact = r * (np.cos(phi) * a + np.sin(phi) * b)
    vertex = impact - sphere * d
    return Muon(float(energy), zenith, azimuth, d, vertex, 0.0, 2 * sphere)


def muon_energy_gev(config: SimConfig, energy0_gev: float, s: np.ndarray) -> np.ndarray:
    """Muon energy after ``s`` metres (continuous loss dE/dx = a + b E), >= 0."""
    a, b = config.ionization_gev_per_m, config.radiative_per_m
    if b == 0:
        return np.maximum(energy0_gev - a * s, 0.0)
    return np.maximum((energy0_gev + a / b) * np.exp(-b * s) - a / b, 0.0)


def sample_cascades(config: SimConfig, muon: Muon, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic losses along the track: (distance from the vertex m, energy GeV)."""
    if not config.stochastic or config.stochastic_fraction == 0:
        return np.zeros(0), np.zeros(0)
    v_min = config.stochastic_v_min
    mean_v = (1 - v_min) / np.log(1 / v_min)  # v ~ 1/v on [v_min, 1]
    rate = config.stochastic_fraction * config.radiative_per_m / mean_v  # per metre
    n = rng.poisson(rate * muon.length_m)
    s = np.sort(rng.uniform(0, muon.length_m, n))
    v = v_min ** rng.random(n)
    return s, v * muon_energy_gev(config, muon.energy_tev * 1e3, s)


def scattering_delays(path_m: np.ndarray, medium: Medium, max_scatterings: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sampled scattering of photons over direct paths (n,): (extra path m, survives bool)."""
    n = len(path_m)
    k = np.minimum(rng.poisson(path_m / medium.scattering_m), max_scatterings)
    extra = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    if n == 0 or k.max() == 0:
        return extra, alive
    kmax = int(k.max())
    where = np.sort(rng.random((n, kmax)), axis=1)
    where = np.where(np.arange(kmax) < k[:, None], where, 1.0)  # unused scatterings at the end
    seg = np.diff(np.concatenate([where, np.ones((n, 1))], axis=1), axis=1) * path_m[:, None]
    g = medium.scattering_g
    u = np.zeros((n, 3))
    u[:, 2] = 1.0
    for j in range(kmax):
        active = j < k
        xi = rng.random(n)
        cos_t = (1 + g * g - ((1 - g * g) / (1 - g + 2 * g * xi)) ** 2) / (2 * g)
        sin_t = np.sqrt(np.clip(1 - cos_t**2, 0, None))
        phi = rng.uniform(0, 2 * np.pi, n)
        u_new = _rotate(u, cos_t, sin_t, phi)
        u = np.where(active[:, None], u_new, u)
        cos_a = u[:, 2]
        alive &= ~active | (cos_a > 0.1)
        extra += np.where(active & alive, seg[:, j] * (1 / np.maximum(cos_a, 0.1) - 1), 0.0)
    return extra, alive


def _rotate(u: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Turn unit vectors u (n, 3) by polar angle t about a random axis (azimuth phi)."""
    # an orthonormal frame (e1, e2, u) for each vector
    helper = np.where(np.abs(u[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    return (cos_t[:, None] * u + sin_t[:, None] * (np.cos(phi)[:, None] * e1
                                                   + np.sin(phi)[:, None] * e2))


def simulate_event(config: SimConfig, geometry: Geometry, muon: Muon,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Photo-electrons of one muon -> hits (dom, t ns, npe) and per-hit truth."""
    medium = config.medium
    doms = geometry.positions
    area = config.dom_effective_area_m2
    theta = medium.cherenkov_angle
    t_direct, path, s = direct_time(muon.vertex, muon.direction, muon.t0, doms, medium)
    rho = np.maximum(path * np.sin(theta), 0.2)  # a DOM is ~0.2 m in radius
    on_track = (s >= 0) & (s <= muon.length_m)
    energy = muon_energy_gev(config, muon.energy_tev * 1e3, np.clip(s, 0, muon.length_m))
    continuous = 1.0 - (config.stochastic_fraction if config.stochastic else 0.0)
    per_m = (config.bare_photons_per_m * (energy > 0)
             + config.cascade_photons_per_gev * continuous * config.radiative_per_m * energy)
    mu = np.where(on_track, area * per_m / (2 * np.pi * rho * np.sin(theta))
                  * np.exp(-path / medium.absorption_m), 0.0)
    n_track = rng.poisson(mu)
    dom_ids = [np.repeat(np.arange(len(doms)), n_track)]
    times = [np.repeat(t_direct, n_track)]
    paths = [np.repeat(path, n_track)]
    cs, ce = sample_cascades(config, muon, rng)
    for s_c, e_c in zip(cs, ce, strict=True):
        where = muon.vertex + s_c * muon.direction
        dist = np.maximum(np.linalg.norm(doms - where, axis=1), 0.2)
        mu_c = (area * config.cascade_photons_per_gev * e_c / (4 * np.pi * dist**2)
                * np.exp(-dist / medium.absorption_m))
        n_c = rng.poisson(mu_c)
        dom_ids.append(np.repeat(np.arange(len(doms)), n_c))
        times.append(np.repeat(muon.t0 + s_c / C_VACUUM_M_PER_NS
                               + dist / medium.photon_speed_m_per_ns, n_c))
        paths.append(np.repeat(dist, n_c))
    dom, t, photon_path = (np.concatenate(x) for x in (dom_ids, times, paths))
    extra, alive = scattering_delays(photon_path, medium, config.max_scatterings, rng)
    alive &= rng.random(len(extra)) < np.exp(-extra / medium.absorption_m)
    dom = dom[alive]
    t = t[alive] + extra[alive] / medium.photon_speed_m_per_ns
    t = t + rng.normal(0.0, config.jitter_ns, len(t)) if config.jitter_ns else t
    n_signal = len(t)
    hit_doms = len(np.unique(dom))
    # dark noise in the event window
    if n_signal:
        lo, hi = t.min() - config.window_margin_ns, t.max() + config.window_margin_ns
    else:
        lo, hi = 0.0, 2 * config.window_margin_ns
    n_noise = rng.poisson(config.dark_rate_hz * 1e-9 * (hi - lo) * len(doms))
    dom = np.concatenate([dom, rng.integers(0, len(doms), n_noise)])
    t = np.concatenate([t, rng.uniform(lo, hi, n_noise)])
    signal = np.concatenate([np.ones(n_signal, bool), np.zeros(n_noise, bool)])
    hits = merge_pulses(dom, t, signal, config.pulse_merge_ns)
    emit = muon.vertex + s[hits["dom"], None] * muon.direction
    return {**hits, "x": doms[hits["dom"], 0], "y": doms[hits["dom"], 1],
            "z": doms[hits["dom"], 2], "emit_x": emit[:, 0], "emit_y": emit[:, 1],
            "emit_z": emit[:, 2], "n_signal_pe": n_signal, "n_signal_doms": hit_doms}


def merge_pulses(dom: np.ndarray, t: np.ndarray, signal: np.ndarray, merge_ns: float
                 ) -> dict[str, np.ndarray]:
    """Photo-electrons -> hits: per DOM, time-ordered pe within ``merge_ns`` of the previous
    one form one hit (time of its first pe). Returns dom, t, npe and signal_npe per hit."""
    order = np.lexsort((t, dom))
    dom, t, signal = dom[order], t[order], signal[order]
    new = np.ones(len(t), dtype=bool)
    new[1:] = (dom[1:] != dom[:-1]) | (np.diff(t) > merge_ns)
    start = np.flatnonzero(new)
    npe = np.diff(np.append(start, len(t)))
    signal_npe = np.add.reduceat(signal.astype(np.int64), start) if len(t) else np.zeros(0, int)
    return {"dom": dom[start].astype(np.int32), "t": t[start], "npe": npe.astype(np.int32),
            "signal_npe": signal_npe.astype(np.int32)}


MAX_MUONS_WITHOUT_TRIGGER = 10_000
"""Muons simulated without one triggered event before a chunk gives up (no endless loop)."""


def check_geometry(config: SimConfig, geometry: Geometry) -> None:
    """A geometry on which the trigger (``min_hit_doms`` DOMs with signal) can fire."""
    if len(geometry) < config.min_hit_doms:
        msg = (f"the geometry has {len(geometry)} DOMs, fewer than min_hit_doms = "
               f"{config.min_hit_doms} needed to trigger: no event could ever be kept")
        raise ConfigError(msg)


def simulate(config: SimConfig, geometry: Geometry, n_events: int, seed: int
             ) -> tuple[ak.Array, int]:
    """``n_events`` triggered events (awkward, one record per event) and the number of
    muons generated to get them."""
    config.check()
    check_geometry(config, geometry)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    generated = 0
    while len(rows) < n_events:
        if generated >= MAX_MUONS_WITHOUT_TRIGGER and not rows:
            msg = (f"no muon of {generated} generated left signal in >= "
                   f"{config.min_hit_doms} of the {len(geometry)} DOMs (min_hit_doms): "
                   "lower min_hit_doms or use a larger geometry")
            raise ConfigError(msg)
        muon = sample_muon(config, geometry, rng)
        generated += 1
        event = simulate_event(config, geometry, muon, rng)
        if event["n_signal_doms"] < config.min_hit_doms:
            continue
        rows.append({"energy_tev": muon.energy_tev, "zenith": muon.zenith,
                     "azimuth": muon.azimuth, "dir_x": muon.direction[0],
                     "dir_y": muon.direction[1], "dir_z": muon.direction[2],
                     "vertex_x": muon.vertex[0], "vertex_y": muon.vertex[1],
                     "vertex_z": muon.vertex[2], "t0": muon.t0, **event})
    if not rows:
        return ak.Array([]), generated
    return ak.Array(rows), generated


def save_events(events: ak.Array, path: str | Path) -> Path:
    """Write events to Parquet atomically."""
    return write_atomic(path, lambda tmp: ak.to_parquet(events, tmp))


def make_chunk(job: ChunkJob) -> tuple[Writer, dict[str, Any]]:
    """The chunk engine's task: ``job.size`` triggered events of chunk ``job.index``."""
    from aihep.reco.geometry import load_geometry
    from aihep.workflow.seeds import derive_seed

    task = json.loads(job.config_json)
    config = SimConfig.model_validate(task["config"])
    events, generated = simulate(config, load_geometry(task["geometry_csv"]), job.size,
                                 derive_seed(job.seed, "reco", job.index))
    return (lambda path: ak.to_parquet(events, path)), {"muons_generated": generated}


def simulate_dataset(config: SimConfig, n_events: int, out: str | Path, seed: int = DEFAULT_SEED,
                     geometry: Geometry | None = None, workers: int = 1,
                     events_per_chunk: int = 1000,
                     progress: Callable[[int, int], None] | None = None,
                     executor: Any = None, force: bool = False) -> Path:
    """Simulate ``n_events`` into ``out/events.parquet`` (+ geometry.csv, manifest.json).

    Chunks of ``events_per_chunk`` are simulated in parallel (``workers`` processes, or the
    ``executor``: an :class:`~aihep.workflow.executor.ExecutorConfig`, e.g. SLURM), each with
    a seed derived from ``seed`` and its index, and kept under ``out/chunks``: a rerun resumes.
    """
    from aihep.workflow.executor import ExecutorConfig, make_executor
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    config.check()
    if n_events < 1:
        msg = f"n_events must be >= 1, got {n_events}"
        raise ConfigError(msg)
    geometry = geometry or hexagonal_layout(config.layout)
    check_geometry(config, geometry)
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(out, "aihep.reco.simulate", force, strict=False)
    # the engine first: a cluster that cannot start leaves nothing behind
    engine = make_executor(executor or ExecutorConfig(kind="local" if workers > 1 else
                                                      "serial", workers=workers))
    try:
        directory = ensure_writable_dir(out)
        geometry_csv = directory / "geometry.csv"
        save_geometry(geometry, geometry_csv)
        key = json.dumps({"config": config.model_dump(mode="json"), "seed": seed,
                          "events_per_chunk": events_per_chunk,
                          "geometry": geometry_csv.read_text()}, sort_keys=True)
        store = ChunkStore(directory / "chunks", key)
        task = json.dumps({"config": config.model_dump(mode="json"),
                           "geometry_csv": str(geometry_csv)})
        jobs = [store.job("chunk", i, min(events_per_chunk, n_events - start), seed, task)
                for i, start in enumerate(range(0, n_events, events_per_chunk))]
        clock = time.perf_counter()
    except BaseException:
        engine.close()
        raise

    def plan(done: dict[tuple[str, int], dict[str, Any]]) -> list[ChunkJob]:
        # a chunk of another size (an earlier run with another n_events) is made again
        return [job for job in jobs
                if done.get(("chunk", job.index), {}).get("n_requested") != job.size]

    def report(done: dict[tuple[str, int], dict[str, Any]]) -> None:
        if progress is not None:
            progress(len(done), len(jobs))

    try:
        done = run_waves(store, engine, make_chunk, plan, on_chunk=report)
    finally:
        engine.close()
    paths = [job.path for job in jobs]
    generated = sum(done[("chunk", job.index)]["muons_generated"] for job in jobs)
    events = ak.concatenate([ak.from_parquet(p) for p in paths])
    target = save_events(events, directory / "events.parquet")
    manifest = build_manifest(
        "aihep.reco.simulate", config=config.model_dump(mode="json"), seed=seed,
        outputs=[file_entry(target, directory), file_entry(geometry_csv, directory)],
        counts={"events": len(events), "muons_generated": generated,
                "doms": len(geometry)},
        extra={"wall_seconds": time.perf_counter() - clock,
               "events_per_chunk": events_per_chunk})
    write_manifest(directory, manifest)
    return target
