"""ALICE-like particle-identification signals of tracks (a parametric model, named so).

* **TPC dE/dx**: the ALEPH parametrization of the Bethe-Bloch curve (the form and default
  parameters of ALICE's ``AliExternalTrackParam::BetheBlochAleph``), scaled so that a
  minimum-ionizing track gives ``mip`` (50, arbitrary units), smeared by a Gaussian of
  relative width ``tpc_resolution`` x sqrt(130 / clusters) (70-159 clusters per track);
* **ITS dE/dx**: the same curve with its own scale and a 12% resolution (4 silicon layers:
  a truncated mean of few samples), present only with enough clusters;
* **TOF**: the time of flight over ``tof_length_m`` at beta = p / E, smeared by
  ``tof_resolution_ps``, with a fraction of mismatched hits (a uniform time); the signal is
  the measured beta; absent below ``tof_p_min_gev`` and with an efficiency rising to a
  plateau above it (not at random), plus random drop-outs;
* **TRD**: a simplified electron signal: a likelihood-like score in [0, 1] drawn from Beta
  distributions, high for electrons above ~1 GeV/c (transition radiation), low otherwise.

Every detector can be absent (NaN); the TPC is always present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MASSES_GEV = {"e": 0.000511, "pi": 0.13957, "K": 0.493677, "p": 0.938272}
SPECIES = ("e", "pi", "K", "p")
C_M_PER_NS = 0.299792458
DETECTORS = ("its", "tpc", "tof", "trd")


def bethe_bloch_aleph(beta_gamma: np.ndarray, p1: float = 0.76176e-1, p2: float = 10.632,
                      p3: float = 0.13279e-4, p4: float = 1.8631, p5: float = 1.9479
                      ) -> np.ndarray:
    """The ALEPH parametrization of the mean energy loss (arbitrary units) at beta*gamma."""
    bg = np.asarray(beta_gamma, dtype=float)
    beta = bg / np.sqrt(1.0 + bg**2)
    aa = beta**p4
    bb = np.log(p3 + (1.0 / bg) ** p5)
    return (p2 - aa - bb) * p1 / aa


MIP_BETA_GAMMA = 3.6


class DetectorConfig(BaseModel):
    """Response and availability of the detectors (one domain)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mip: float = Field(50.0, gt=0, description="TPC dE/dx of a MIP (a.u.)")
    tpc_gain: float = Field(1.0, gt=0)
    tpc_resolution: float = Field(0.055, gt=0, description="relative, at 130 clusters")
    its_scale: float = Field(1.6, gt=0, description="ITS dE/dx of a MIP / the TPC's")
    its_resolution: float = Field(0.12, gt=0)
    its_efficiency: float = Field(0.85, ge=0, le=1)
    tof_length_m: float = Field(3.7, gt=0)
    tof_resolution_ps: float = Field(80.0, gt=0)
    tof_offset_ps: float = 0.0
    tof_mismatch: float = Field(0.01, ge=0, le=1)
    tof_p_min_gev: float = Field(0.5, ge=0)
    tof_plateau: float = Field(0.70, ge=0, le=1)
    tof_rise_gev: float = Field(0.3, gt=0, description="efficiency scale above the threshold")
    trd_efficiency: float = Field(0.8, ge=0, le=1)
    dropout: float = Field(0.02, ge=0, le=1, description="random loss of ITS/TOF/TRD")


@dataclass(frozen=True)
class TrackSignals:
    """Signals (n_tracks,) per detector, NaN where absent, and the track momentum."""

    p_gev: np.ndarray
    its: np.ndarray
    tpc: np.ndarray
    tof: np.ndarray
    trd: np.ndarray

    def as_array(self) -> np.ndarray:
        """(n, 4) ITS, TPC, TOF, TRD signals (NaN: absent)."""
        return np.stack([self.its, self.tpc, self.tof, self.trd], axis=1)


def expected_tpc(p_gev: np.ndarray, mass_gev: float | np.ndarray, config: DetectorConfig
                 ) -> np.ndarray:
    """Mean TPC dE/dx (a.u.) of tracks of momentum p and mass m."""
    scale = config.mip / float(bethe_bloch_aleph(np.array(MIP_BETA_GAMMA)))
    return config.tpc_gain * scale * bethe_bloch_aleph(np.asarray(p_gev) / mass_gev)


def expected_beta(p_gev: np.ndarray, mass_gev: float | np.ndarray) -> np.ndarray:
    """beta = p / E."""
    p = np.asarray(p_gev, dtype=float)
    return p / np.sqrt(p**2 + np.asarray(mass_gev) ** 2)


def tof_efficiency(p_gev: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """0 below the threshold, rising to the plateau above it."""
    x = np.asarray(p_gev, dtype=float) - config.tof_p_min_gev
    return np.where(x > 0, config.tof_plateau * (1.0 - np.exp(-x / config.tof_rise_gev)),
                    0.0)


def simulate_signals(p_gev: np.ndarray, species: np.ndarray, config: DetectorConfig,
                     rng: np.random.Generator) -> TrackSignals:
    """Signals of tracks with momenta (n,) [GeV/c] and species indices (n,) into SPECIES."""
    p = np.asarray(p_gev, dtype=float)
    mass = np.array([MASSES_GEV[s] for s in SPECIES])[species]
    n = len(p)
    clusters = rng.integers(70, 160, n)
    tpc_mean = expected_tpc(p, mass, config)
    tpc = tpc_mean * (1 + rng.normal(0, 1, n) * config.tpc_resolution * np.sqrt(130 / clusters))
    its = config.its_scale * tpc_mean * (1 + rng.normal(0, config.its_resolution, n))
    its = np.where(rng.random(n) < config.its_efficiency * (1 - config.dropout), its, np.nan)
    beta = expected_beta(p, mass)
    t_ns = config.tof_length_m / (beta * C_M_PER_NS)
    t_ns = t_ns + 1e-3 * (config.tof_offset_ps + rng.normal(0, config.tof_resolution_ps, n))
    mismatch = rng.random(n) < config.tof_mismatch
    t_ns = np.where(mismatch, rng.uniform(11.0, 30.0, n), t_ns)
    tof = config.tof_length_m / (t_ns * C_M_PER_NS)
    seen = rng.random(n) < tof_efficiency(p, config) * (1 - config.dropout)
    tof = np.where(seen, tof, np.nan)
    electron = species == SPECIES.index("e")
    strong = electron & (p > 1.0)
    trd = np.where(strong, rng.beta(5.0, 2.0, n),
                   np.where(electron, rng.beta(3.0, 3.0, n), rng.beta(1.5, 6.0, n)))
    trd = np.where(rng.random(n) < config.trd_efficiency * (1 - config.dropout), trd, np.nan)
    return TrackSignals(p, its, tpc, tof, trd)


def n_sigma_tpc(signals: TrackSignals, config: DetectorConfig) -> np.ndarray:
    """(n, 4) (measured - expected) / resolution of the TPC signal per species hypothesis
    (resolution at the mean cluster count)."""
    out = np.empty((len(signals.p_gev), len(SPECIES)))
    sigma = config.tpc_resolution * math.sqrt(130 / 114.5)
    for k, s in enumerate(SPECIES):
        expected = expected_tpc(signals.p_gev, MASSES_GEV[s], config)
        out[:, k] = (signals.tpc - expected) / (sigma * expected)
    return out


def n_sigma_tof(signals: TrackSignals, config: DetectorConfig) -> np.ndarray:
    """(n, 4) (measured - expected) / resolution of the time of flight per species
    hypothesis (expected time includes ``tof_offset_ps``); NaN where TOF is absent."""
    out = np.full((len(signals.p_gev), len(SPECIES)), np.nan)
    seen = np.isfinite(signals.tof)
    t_ns = config.tof_length_m / (signals.tof[seen] * C_M_PER_NS)
    for k, s in enumerate(SPECIES):
        expected = (config.tof_length_m / (expected_beta(signals.p_gev[seen], MASSES_GEV[s])
                                           * C_M_PER_NS) + 1e-3 * config.tof_offset_ps)
        out[seen, k] = (t_ns - expected) / (1e-3 * config.tof_resolution_ps)
    return out
