"""Track-level detector information: impact parameters and charged-hadron identification.

Impact parameters (mm) of a charged particle are computed from its Pythia production vertex
(x, y, z in mm, the primary interaction at the origin) as a straight line, which is accurate
for the pT > ~1 GeV tracks of boosted jets:

    d0 = (x p_y - y p_x) / pT,    dz = z - (x p_x + y p_y) p_z / pT^2,

then signed by the jet direction (positive when the point of closest approach lies ahead of
the primary vertex along the jet, as for lifetime-signed impact parameters) and smeared by
Gaussian resolutions sigma(d0) = a (+) b / pT and sigma(dz) = c (+) d / pT (defaults
10 um (+) 30 um GeV / pT and 30 um (+) 60 um GeV / pT, like the CMS/ATLAS trackers). The
stored error is that sigma. Neutral particles get d0 = dz = 0 with zero errors, as in
JetClass. K_S and Lambda are kept stable in generation (``ParticleDecays:limitTau0 = on``,
``tau0Max = 10`` mm) so their decays do not fake displacement.

Charged-hadron identification is parametric (as from dE/dx plus time of flight): a true pion,
kaon or proton is identified as pion / kaon / proton with the probabilities of
:class:`HadronIDConfig`, separately below and above ``p_threshold_gev`` (separation degrades
with momentum). Other charged particles (electrons, muons) are not flagged.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class TrackConfig(BaseModel):
    """Impact-parameter resolution: sigma = const (+) per_gev / pT, in mm (pT in GeV)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    d0_const_mm: float = Field(0.010, ge=0)
    d0_per_gev_mm: float = Field(0.030, ge=0)
    dz_const_mm: float = Field(0.030, ge=0)
    dz_per_gev_mm: float = Field(0.060, ge=0)


PION, KAON, PROTON = 211, 321, 2212
SPECIES = (PION, KAON, PROTON)


class HadronIDConfig(BaseModel):
    """Identification matrices: row = true (pi, K, p), column = identified as (pi, K, p).

    Rows sum to <= 1; the remainder is left unidentified. Defaults: a good dE/dx + TOF
    system (CEPC-like) at low momentum, degraded separation at high momentum.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    p_threshold_gev: float = Field(20.0, gt=0)
    low_p: tuple[tuple[float, float, float], ...] = (
        (0.97, 0.02, 0.01), (0.05, 0.92, 0.03), (0.02, 0.04, 0.94))
    high_p: tuple[tuple[float, float, float], ...] = (
        (0.90, 0.08, 0.02), (0.15, 0.78, 0.07), (0.05, 0.10, 0.85))


def impact_parameters(vertex_mm: np.ndarray, momentum_gev: np.ndarray, charged: np.ndarray,
                      jet_direction: np.ndarray, config: TrackConfig,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Measured signed impact parameters and their errors.

    Args:
        vertex_mm: (n, 3) production vertices.
        momentum_gev: (n, 3) momenta.
        charged: (n,) bool.
        jet_direction: (n, 3) direction of each particle's jet (any length).
    Returns:
        ``d0val``, ``d0err``, ``dzval``, ``dzerr`` arrays (n,), mm.
    """
    x, y, z = vertex_mm.T
    px, py, pz = momentum_gev.T
    pt = np.maximum(np.hypot(px, py), 1e-9)
    d0 = np.abs(x * py - y * px) / pt
    t = (x * px + y * py) / pt**2  # path parameter of the transverse closest approach
    dz = z - t * pz
    pca = np.stack([x - t * px, y - t * py, dz], axis=1)
    sign = np.where((pca * jet_direction).sum(1) >= 0, 1.0, -1.0)
    sigma_d0 = np.hypot(config.d0_const_mm, config.d0_per_gev_mm / pt)
    sigma_dz = np.hypot(config.dz_const_mm, config.dz_per_gev_mm / pt)
    d0_meas = sign * d0 + rng.standard_normal(len(x)) * sigma_d0
    dz_meas = dz + rng.standard_normal(len(x)) * sigma_dz
    zero = np.zeros(len(x))
    return {"d0val": np.where(charged, d0_meas, zero), "d0err": np.where(charged, sigma_d0, zero),
            "dzval": np.where(charged, dz_meas, zero), "dzerr": np.where(charged, sigma_dz, zero)}


def identify_hadrons(pid: np.ndarray, p_gev: np.ndarray, config: HadronIDConfig,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Flags ``isPion``, ``isKaon``, ``isProton`` (float 0/1) of the identified type."""
    out = {name: np.zeros(len(pid)) for name in ("isPion", "isKaon", "isProton")}
    if not config.enabled:
        return out
    abs_pid = np.abs(pid)
    u = rng.random(len(pid))
    for row, true in enumerate(SPECIES):
        for matrix, high in ((config.low_p, False), (config.high_p, True)):
            sel = (abs_pid == true) & ((p_gev >= config.p_threshold_gev) == high)
            edges = np.cumsum(matrix[row])
            for col, name in enumerate(("isPion", "isKaon", "isProton")):
                lo = edges[col - 1] if col else 0.0
                out[name][sel & (u >= lo) & (u < edges[col])] = 1.0
    return out
