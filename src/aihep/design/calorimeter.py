"""Benchmark A: where to put the active layers of a sampling calorimeter.

A block of absorber (default iron, ``depth_mm`` deep) is read out by up to K active layers
(default scintillator) at positions ``z<i>_mm`` with thicknesses ``t<i>`` (0 = no layer),
under a budget of total active thickness. The objective is the mean-corrected energy
resolution (sigma_68 / mean of the weighted sum of layer signals) for electrons and charged
pions at 50 and 100 GeV.

The cascade Monte Carlo cannot run inside an optimization loop, so every design sees the
same **shower libraries**, built once and cached:

* **electrons**: showers of :mod:`aihep.fastsim.cascade` in the plain absorber, the energy
  deposited in every 1 mm slice recorded (a charged-track-length equivalent: deposit /
  absorber dE/dx). A layer's signal is the track length in the slices it covers times the
  active material's dE/dx. Approximation (named): the thin active layers do not change the
  shower; their sampling fluctuations are those of the covered absorber slices.
* **pions**: a stochastic model (ours, not a hadronic cascade), per event: the first
  interaction depth (exponential in the pion interaction length; a MIP before it); the EM
  fraction f_em from a Beta distribution with mean 1 - (E/E0)^(k-1) (E0 = 1 GeV, k = 0.82)
  and width ``sigma_fem``; the two-component longitudinal profile of Bock et al. (Nucl.
  Instrum. Meth. 186 (1981) 533): Gamma profiles on the X0 scale (EM) and the interaction
  length scale (hadronic) from the first interaction, their shapes fluctuating event by
  event (log-normal ``sigma_shape``); the hadronic part visible with ``h_over_e`` and an
  intrinsic (binding-energy) fluctuation. A high EM fraction thus comes with an early,
  compact deposit. Sampling: per layer, Poisson numbers of track crossings whose quantum is
  the active dE/dx x thickness x ``path_factor`` (EM) and ``hadron_quantum`` times that
  (hadronic). Leakage comes from the same events (what lies beyond the last layer is lost).

The reconstructed energy is sum_i w_i s_i with sampling weights w_i = (absorber depth the
layer represents: midpoints to its neighbours) / thickness; the resolution is half the
central 68.27% interval divided by the mean, per particle and energy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import ConfigError

Library = Literal["train", "test"]


class HadronModel(BaseModel):
    """Parameters of the stochastic pion-shower model (Fe defaults; see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    interaction_length_mm: float = Field(203.0, gt=0, description="pion, first interaction")
    lambda_mm: float = Field(167.7, gt=0, description="nuclear interaction length (profile)")
    fem_e0_gev: float = 1.0
    fem_k: float = 0.82
    sigma_fem: float = Field(0.12, gt=0, description="rms of the EM fraction")
    h_over_e: float = Field(0.71, gt=0, le=1.5, description="1 / (e/h), Fe-scintillator")
    intrinsic: float = Field(0.3, ge=0, description="relative fluctuation of the visible "
                             "hadronic energy x sqrt(E_h / GeV)")
    sigma_shape: float = Field(0.15, ge=0, description="log-normal jitter of the profile "
                               "shapes")
    bock_b: float = 0.2198
    hadron_quantum: float = Field(4.0, gt=0, description="mean deposit per hadronic "
                                  "crossing in units of a MIP crossing")
    path_factor: float = Field(1.3, gt=0, description="mean path per EM crossing / thickness")


class CalorimeterSettings(BaseModel):
    """The fixed part of the calorimeter (everything the design does not choose)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    absorber: str = "Fe"
    active: str = "scintillator"
    depth_mm: int = Field(1500, ge=10, description="absorber depth; 1 mm library slices")
    energies_gev: tuple[float, ...] = (50.0, 100.0)
    particles: tuple[Literal["electron", "pion"], ...] = ("electron", "pion")
    library_events: int = Field(10_000, ge=10, description="showers per particle, energy "
                                "and library")
    library: Library = Field("train", description="train: the optimization's events; test: "
                             "independent events for re-evaluation")
    library_max_loss: float = Field(
        0.2, gt=0, le=0.5, description="condensed-history step of the library's cascade MC "
        "(aihep.fastsim.cascade.CascadeConfig.max_loss)")
    library_path_correction: bool = Field(
        False, description="path-length correction of the library's cascade MC. The "
        "benchmark's libraries were built with the first kernel (step 0.2, no correction), "
        "kept so all its rows share one library; in all-iron 1 mm slices it changes the "
        "design objective little (docs/design.md)")
    hadron: HadronModel = Field(default_factory=HadronModel)
    cache_dir: str | None = Field(None, description="default $AIHEP_CACHE or "
                                  "~/.cache/aihep, /design/calorimeter")


def cache_root(settings: CalorimeterSettings) -> Path:
    if settings.cache_dir:
        return Path(settings.cache_dir)
    base = os.environ.get("AIHEP_CACHE") or str(Path.home() / ".cache" / "aihep")
    return Path(base) / "design" / "calorimeter"


def layers_of(design: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(front z [mm], thickness [mm]) of the active layers of a design, sorted in z.

    Design keys ``z<i>_mm`` and ``t<i>``; t = 0 or "off" means no layer.
    """
    from aihep.design.slots import active_slots

    return active_slots(design, "mm", "t", "calorimeter")


def sampling_weights(z_mm: np.ndarray, t_mm: np.ndarray, depth_mm: float) -> np.ndarray:
    """Absorber depth each layer represents (midpoints to its neighbours) / its thickness."""
    if len(z_mm) == 0:
        return np.zeros(0)
    centre = z_mm + t_mm / 2
    edges = np.concatenate([[0.0], (centre[1:] + centre[:-1]) / 2, [
        min(depth_mm, centre[-1] + (centre[-1] - centre[-2]) / 2 if len(centre) > 1
            else depth_mm)]])
    return np.diff(edges) / t_mm


def resolution(energy: np.ndarray) -> float:
    """Half the central 68.27% interval of ``energy`` over its mean (mean-corrected)."""
    mean = float(np.mean(energy))
    if not np.isfinite(mean) or mean <= 0:
        return 1.0
    lo, hi = np.quantile(energy, [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2])
    return float(0.5 * (hi - lo) / mean)


# -- electron library ------------------------------------------------------------------------

def library_layout(settings: CalorimeterSettings, energy_gev: float):
    """The plain absorber in 1 mm active slices (the library's geometry)."""
    from aihep.fastsim.geometry import CaloLayout, Slab

    return CaloLayout(name=f"library-{settings.absorber}",
                      cell=(Slab(material=settings.absorber, thickness_mm=1.0, active=True),),
                      n_cells=settings.depth_mm, radial_edges_mm=(0.0, 1e5),
                      energy_min_mev=1e3 * energy_gev, energy_max_mev=1e3 * energy_gev)


def _library_seed(library: Library, energy_gev: float) -> int:
    return {"train": 101, "test": 202}[library] * 1000 + round(energy_gev)


def electron_library_dir(settings: CalorimeterSettings, energy_gev: float,
                         library: Library) -> Path:
    key = json.dumps({"absorber": settings.absorber, "depth_mm": settings.depth_mm,
                      "energy_gev": energy_gev, "library": library,
                      "max_loss": settings.library_max_loss,
                      "path_correction": settings.library_path_correction}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_root(settings) / f"electron_{settings.absorber}_{energy_gev:g}GeV_{library}" \
        f"_{digest}"


def build_electron_library(settings: CalorimeterSettings, energy_gev: float,
                           library: Library, workers: int = 1,
                           progress: Callable[[int, int], None] | None = None) -> Path:
    """Simulate (or complete) an electron library with the cascade MC; resumable."""
    from aihep.fastsim.cascade import CascadeConfig
    from aihep.fastsim.dataset import ShowerDatasetConfig, simulate_dataset
    from aihep.workflow.executor import ExecutorConfig

    out = electron_library_dir(settings, energy_gev, library)
    # the first kernel's deflection too (tangent plane): the libraries stay those measured
    cascade = CascadeConfig(max_loss=settings.library_max_loss,
                            path_correction=settings.library_path_correction,
                            scattering="tangent", scattering_power="highland")
    config = ShowerDatasetConfig(layout=library_layout(settings, energy_gev), cascade=cascade,
                                 n_showers=settings.library_events, showers_per_chunk=250,
                                 seed=_library_seed(library, energy_gev))
    simulate_dataset(config, out, ExecutorConfig(kind="local" if workers > 1 else "serial",
                                                 workers=workers), progress)
    return out


@cache
def _electron_cumulative(path: str, events: int) -> np.ndarray:
    """(events, depth + 1) cumulative slice deposits [MeV], from the cached library."""
    from aihep.io.calo import read_showers

    showers = read_showers(Path(path) / "showers.h5").showers_mev[:events].astype(np.float64)
    return np.concatenate([np.zeros((len(showers), 1)), np.cumsum(showers, axis=1)], axis=1)


def electron_library(settings: CalorimeterSettings, energy_gev: float,
                     library: Library) -> np.ndarray:
    """Cumulative deposits of the cached library; a missing library is a clear error."""
    path = electron_library_dir(settings, energy_gev, library)
    if not (path / "showers.h5").is_file():
        msg = (f"the {library} electron library at {energy_gev:g} GeV is not built "
               f"({path}); build it with `aihep design library` (about "
               f"{settings.library_events * energy_gev * 2e-3 / 60:.0f} core-minutes)")
        raise ConfigError(msg)
    cumulative = _electron_cumulative(str(path), settings.library_events)
    if len(cumulative) < settings.library_events:
        msg = (f"{path}: holds {len(cumulative)} showers, {settings.library_events} needed; "
               "complete it with `aihep design library`")
        raise ConfigError(msg)
    return cumulative


def _covered(cumulative: np.ndarray, z_mm: np.ndarray, t_mm: np.ndarray) -> np.ndarray:
    """Deposit [MeV] in [z, z + t) per event and layer (linear within a 1 mm slice)."""
    def at(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0, cumulative.shape[1] - 1)
        i = np.minimum(np.floor(x).astype(int), cumulative.shape[1] - 2)
        frac = x - i
        return cumulative[:, i] * (1 - frac) + cumulative[:, i + 1] * frac

    return at(z_mm + t_mm) - at(z_mm)


def electron_signals(settings: CalorimeterSettings, energy_gev: float, z_mm: np.ndarray,
                     t_mm: np.ndarray) -> np.ndarray:
    """(events, layers) signals [MeV in the active material] of the electron library."""
    from aihep.fastsim.materials import get_material

    ratio = get_material(settings.active).mip_mev_per_mm / get_material(
        settings.absorber).mip_mev_per_mm
    return ratio * _covered(electron_library(settings, energy_gev, settings.library),
                            z_mm, t_mm)


# -- pion model ------------------------------------------------------------------------------

def pion_events(settings: CalorimeterSettings, energy_gev: float, n: int,
                seed: int) -> dict[str, np.ndarray]:
    """Per-event parameters of the stochastic pion model (see the module docstring)."""
    from aihep.fastsim.materials import get_material

    h = settings.hadron
    rng = np.random.default_rng(seed)
    x0 = get_material(settings.absorber).x0_mm
    z0 = rng.exponential(h.interaction_length_mm, n)
    mean = 1.0 - (energy_gev / h.fem_e0_gev) ** (h.fem_k - 1.0)
    nu = mean * (1 - mean) / h.sigma_fem**2 - 1.0
    if nu <= 0:
        msg = f"sigma_fem {h.sigma_fem} too large for a mean EM fraction of {mean:.2f}"
        raise ConfigError(msg)
    fem = rng.beta(mean * nu, (1 - mean) * nu, n)
    a = 0.6165 + 0.3183 * math.log(energy_gev)
    d = 0.9099 - 0.0237 * math.log(energy_gev)
    jitter = np.exp(rng.normal(0.0, h.sigma_shape, (2, n)))
    e_had = (1 - fem) * energy_gev
    visible = np.clip(1 + rng.normal(0, 1, n) * h.intrinsic / np.sqrt(
        np.maximum(e_had, 1e-3)), 0.0, None)
    return {"z0": z0, "e_em": 1e3 * fem * energy_gev, "e_had": 1e3 * e_had * h.h_over_e
            * visible, "a_em": a * jitter[0], "scale_em": np.full(n, x0 / h.bock_b),
            "a_had": a * jitter[1], "scale_had": np.full(n, h.lambda_mm / d)}


def pion_signals(settings: CalorimeterSettings, energy_gev: float, z_mm: np.ndarray,
                 t_mm: np.ndarray, events: dict[str, np.ndarray],
                 rng: np.random.Generator) -> np.ndarray:
    """(events, layers) signals [MeV in the active material] of pion events."""
    from scipy.special import gammainc

    from aihep.fastsim.materials import get_material

    h = settings.hadron
    mip_act = get_material(settings.active).mip_mev_per_mm
    ratio = mip_act / get_material(settings.absorber).mip_mev_per_mm
    z0 = events["z0"][:, None]
    lo = np.clip(z_mm[None, :] - z0, 0.0, None)
    hi = np.clip(z_mm[None, :] + t_mm[None, :] - z0, 0.0, None)
    em = events["e_em"][:, None] * (
        gammainc(events["a_em"][:, None], hi / events["scale_em"][:, None])
        - gammainc(events["a_em"][:, None], lo / events["scale_em"][:, None]))
    had = events["e_had"][:, None] * (
        gammainc(events["a_had"][:, None], hi / events["scale_had"][:, None])
        - gammainc(events["a_had"][:, None], lo / events["scale_had"][:, None]))
    quantum = mip_act * t_mm[None, :] * h.path_factor
    signal = (quantum * rng.poisson(ratio * em / quantum)
              + h.hadron_quantum * quantum * rng.poisson(ratio * had / (h.hadron_quantum
                                                                        * quantum)))
    mip_path = np.clip(np.minimum(z_mm[None, :] + t_mm[None, :], z0) - z_mm[None, :], 0.0,
                       None)
    return signal + mip_act * mip_path


# -- the objective -----------------------------------------------------------------------------

def metric_names(settings: CalorimeterSettings) -> list[str]:
    """The metrics :func:`evaluate_layers` returns with these settings."""
    return [name for particle in settings.particles for name in (
        *(f"resolution_{particle}_{energy:g}_pct" for energy in settings.energies_gev),
        f"resolution_{particle}_pct")]


def evaluate_layers(z_mm: Sequence[float] | np.ndarray, t_mm: Sequence[float] | np.ndarray,
                    settings: CalorimeterSettings, events: int, seed: int
                    ) -> dict[str, float]:
    """Resolutions [%] of a layer layout: ``resolution_<particle>_<E>_pct`` and their
    per-particle means ``resolution_<particle>_pct``."""
    z = np.asarray(z_mm, float)
    t = np.asarray(t_mm, float)
    w = sampling_weights(z, t, settings.depth_mm)
    metrics: dict[str, float] = {}
    for particle in settings.particles:
        values = []
        for k, energy in enumerate(settings.energies_gev):
            if len(z) == 0:
                res = 1.0
            elif particle == "electron":
                n = min(events, settings.library_events)
                res = resolution(electron_signals(settings, energy, z, t)[:n] @ w)
            else:
                library_seed = _library_seed(settings.library, energy)
                pions = pion_events(settings, energy, min(events, settings.library_events),
                                    library_seed)
                rng = np.random.default_rng([seed, k])
                res = resolution(pion_signals(settings, energy, z, t, pions, rng) @ w)
            metrics[f"resolution_{particle}_{energy:g}_pct"] = 100 * res
            values.append(100 * res)
        metrics[f"resolution_{particle}_pct"] = float(np.mean(values))
    return metrics


def simulate_design(design: Mapping[str, Any], seed: int, events: int,
                    **settings: Any) -> dict[str, float]:
    """The simulator of the ``calorimeter`` problem: design keys ``z<i>_mm``, ``t<i>``."""
    z, t = layers_of(design)
    return evaluate_layers(z, t, CalorimeterSettings(**settings), events, seed)
