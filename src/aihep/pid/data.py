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
    """Tracks of one domain: momentum, pT, eta, species index, detector signals; for V0
    finding the momentum vector [GeV], charge, event and (truth, for purity only) the PDG
    id of the mother."""

    p_gev: np.ndarray
    pt_gev: np.ndarray
    eta: np.ndarray
    species: np.ndarray
    signals: TrackSignals
    momentum: np.ndarray | None = None  # (n, 3)
    charge: np.ndarray | None = None
    event: np.ndarray | None = None
    mother_pid: np.ndarray | None = None
    vertex_r_mm: np.ndarray | None = None  # transverse distance of the production vertex

    def __len__(self) -> int:
        return len(self.p_gev)

    def select(self, index: np.ndarray) -> Tracks:
        """The tracks at ``index`` (indices or a boolean mask)."""
        from dataclasses import fields

        def take(value):
            if value is None:
                return None
            if isinstance(value, TrackSignals):
                return TrackSignals(*(getattr(value, f.name)[index] for f in fields(value)))
            return value[index]

        return Tracks(*(take(getattr(self, f.name)) for f in fields(self)))


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
        counts = ak.to_numpy(ak.num(prt.id, axis=1))
        offsets = np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        status = ak.to_numpy(ak.flatten(prt.status))
        signed = ak.to_numpy(ak.flatten(prt.id))
        pid = np.abs(signed)
        mother = ak.to_numpy(ak.flatten(prt.mother1)) + offsets
        mother_pid = np.abs(signed[np.clip(mother, 0, len(signed) - 1)])
        event = start + np.repeat(np.arange(len(counts)), counts)
        chosen = (status > 0) & np.isin(pid, list(PDG_SPECIES))
        px, py, pz = (ak.to_numpy(ak.flatten(prt.p[f]))[chosen] for f in ("px", "py", "pz"))
        charge = np.where(pid == 11, -np.sign(signed), np.sign(signed))[chosen]
        # Pythia leaves the production vertex unset (None) at the primary vertex
        vx, vy = (np.asarray(ak.to_numpy(ak.flatten(ak.fill_none(prt.vProd[f], 0.0))))[
            chosen] for f in ("px", "py"))
        parts.append((px, py, pz, pid[chosen], charge, event[chosen], mother_pid[chosen],
                      np.hypot(vx, vy)))
    px, py, pz, pid, charge, event, mother_pid, radius = (
        np.concatenate([p[i] for p in parts]) for i in range(8))
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
    return Tracks(p, pt, eta, species, signals, np.column_stack([px, py, pz])[keep],
                  charge[keep], event[keep], mother_pid[keep], radius[keep])


V0S = {"K0S": (0.497611, ("pi", "pi")), "Lambda": (1.115683, ("p", "pi"))}


@dataclass(frozen=True)
class V0Sample:
    """Tracks tagged by decay kinematics: their indices, the species the V0 hypothesis
    implies, and (truth, for the record) the tagging purity."""

    index: np.ndarray
    species: np.ndarray
    purity: float
    candidates: dict[str, int]


def v0_sample(tracks: Tracks, window_gev: float = 0.005, min_radius_mm: float = 0.5,
              vertex_resolution_mm: float = 0.1, seed: int = 0) -> V0Sample:
    """K0S -> pi+ pi- and Lambda -> p pi (either charge assignment) from opposite-charge
    track pairs of the same event whose invariant mass under the V0 hypothesis lies within
    ``window_gev`` of the V0 mass and whose tracks both come from a displaced vertex (the
    production radius, smeared by ``vertex_resolution_mm``, above ``min_radius_mm``: a
    stand-in for the secondary-vertex selection). The combinatorial pairs that pass stay
    (the purity says how many). Photon conversions are not simulated (no material), so the
    sample has no electrons."""
    from aihep.pid.detectors import MASSES_GEV

    if tracks.momentum is None or tracks.charge is None or tracks.event is None:
        msg = "tracks without momentum vectors, charges and events cannot form V0s"
        raise ValueError(msg)
    chosen: dict[int, int] = {}
    counts = dict.fromkeys(V0S, 0)
    radius = tracks.vertex_r_mm if tracks.vertex_r_mm is not None else np.zeros(len(tracks))
    measured = radius + np.random.default_rng(seed).normal(0, vertex_resolution_mm,
                                                           len(radius))
    displaced = measured > min_radius_mm
    order = np.flatnonzero(displaced)
    order = order[np.argsort(tracks.event[order], kind="stable")]
    bounds = np.flatnonzero(np.diff(tracks.event[order])) + 1
    for group in np.split(order, bounds):
        pos = group[tracks.charge[group] > 0]
        neg = group[tracks.charge[group] < 0]
        if len(pos) == 0 or len(neg) == 0:
            continue
        p_pos, p_neg = tracks.momentum[pos], tracks.momentum[neg]
        for name, (mass, (first, second)) in V0S.items():
            for a_species, b_species in ((first, second), (second, first)):
                if name == "K0S" and a_species != first:
                    continue  # pi pi: one assignment
                m_a, m_b = MASSES_GEV[a_species], MASSES_GEV[b_species]
                e_a = np.sqrt((p_pos**2).sum(1) + m_a**2)[:, None]
                e_b = np.sqrt((p_neg**2).sum(1) + m_b**2)[None, :]
                s = (p_pos[:, None, :] + p_neg[None, :, :])
                m2 = (e_a + e_b) ** 2 - (s**2).sum(-1)
                hit = np.abs(np.sqrt(np.maximum(m2, 0)) - mass) < window_gev
                for i, j in zip(*np.nonzero(hit), strict=True):
                    counts[name] += 1
                    chosen[int(pos[i])] = SPECIES.index(a_species)
                    chosen[int(neg[j])] = SPECIES.index(b_species)
    index = np.array(sorted(chosen), dtype=np.int64)
    implied = np.array([chosen[i] for i in index], dtype=np.int64)
    purity = float((tracks.species[index] == implied).mean()) if len(index) else float("nan")
    return V0Sample(index, implied, purity, counts)


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
