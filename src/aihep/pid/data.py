"""Tracks for particle identification: Pythia 8 minimum-bias pp events, ALICE-like
acceptance, detector signals per domain.

Charged e, pi, K and p with |eta| < 0.9 and pT > 0.15 GeV/c from inelastic pp collisions
(``SoftQCD:inelastic``; 13.6 TeV), so abundances and spectra are Pythia's. Two domains:
"simulation" and "data", each a :class:`DomainConfig` (detector response and availability,
Pythia tune, species fractions changed by dropping tracks), fixed before any training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.pid.detectors import SPECIES, DetectorConfig, TrackSignals, simulate_signals

PDG_SPECIES = {11: "e", 211: "pi", 321: "K", 2212: "p"}


class DomainConfig(BaseModel):
    """One domain: the detectors, Pythia's tune and species fractions kept (0-1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "simulation"
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    pythia_tune: int = Field(14, description="Tune:pp (14: Monash 2013)")
    keep_fraction: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(SPECIES,
                                                                               1.0))
    ecm_gev: float = 13_600.0
    eta_max: float = 0.9
    pt_min_gev: float = 0.15


@dataclass(frozen=True)
class Tracks:
    """Tracks of one domain: momentum, pT, eta, species index, detector signals."""

    p_gev: np.ndarray
    pt_gev: np.ndarray
    eta: np.ndarray
    species: np.ndarray
    signals: TrackSignals

    def __len__(self) -> int:
        return len(self.p_gev)


def generate_tracks(domain: DomainConfig, n_events: int, seed: int) -> Tracks:
    """Generate ``n_events`` minimum-bias events of ``domain`` and measure their tracks."""
    import awkward as ak

    from aihep.events.pythia import base_settings, make_pythia, next_batch
    from aihep.workflow import seeds

    settings = [*base_settings(domain.ecm_gev, seeds.pythia_seed(seed, domain.name)),
                "SoftQCD:inelastic = on", f"Tune:pp = {domain.pythia_tune}"]
    pythia = make_pythia(settings)
    parts = []
    for start in range(0, n_events, 500):
        run = next_batch(pythia, min(500, n_events - start))
        prt = run.prt
        status = ak.to_numpy(ak.flatten(prt.status))
        pid = np.abs(ak.to_numpy(ak.flatten(prt.id)))
        chosen = (status > 0) & np.isin(pid, list(PDG_SPECIES))
        px, py, pz = (ak.to_numpy(ak.flatten(prt.p[f]))[chosen] for f in ("px", "py", "pz"))
        parts.append((px, py, pz, pid[chosen]))
    px, py, pz, pid = (np.concatenate([p[i] for p in parts]) for i in range(4))
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    species = np.array([SPECIES.index(PDG_SPECIES[int(i)]) for i in pid], dtype=np.int64)
    rng = seeds.rng(seed, domain.name, "tracks")
    keep = (np.abs(eta) < domain.eta_max) & (pt > domain.pt_min_gev)
    fraction = np.array([domain.keep_fraction.get(s, 1.0) for s in SPECIES])[species]
    keep &= rng.random(len(p)) < fraction
    p, pt, eta, species = p[keep], pt[keep], eta[keep], species[keep]
    signals = simulate_signals(p, species, domain.detector, seeds.rng(seed, domain.name,
                                                                      "signals"))
    return Tracks(p, pt, eta, species, signals)


def shifted_data_domain(scale: float = 1.0) -> DomainConfig:
    """The "data" domain at ``scale`` x the default shift (0: identical detectors): dE/dx
    gain +2.5%, dE/dx resolution +10%, TOF offset +25 ps and resolution 80 -> 100 ps, more
    TOF and TRD losses; another Pythia tune and 15-20% fewer kaons and protons."""
    base = DetectorConfig()
    detector = base.model_copy(update={
        "tpc_gain": 1 + 0.025 * scale,
        "tpc_resolution": base.tpc_resolution * (1 + 0.10 * scale),
        "its_resolution": base.its_resolution * (1 + 0.10 * scale),
        "tof_offset_ps": 25.0 * scale,
        "tof_resolution_ps": base.tof_resolution_ps + 20.0 * scale,
        "tof_plateau": max(base.tof_plateau - 0.05 * scale, 0.0),
        "trd_efficiency": max(base.trd_efficiency - 0.05 * scale, 0.0)})
    keep = {"e": 1.0, "pi": 1.0, "K": 1 - 0.15 * min(scale, 1.0),
            "p": 1 - 0.20 * min(scale, 1.0)}
    return DomainConfig(name="data", detector=detector, pythia_tune=14 if scale == 0 else 5,
                        keep_fraction=keep)
