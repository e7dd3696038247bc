"""Tau candidates from jets: particle types, a decay-mode finder (HPS-style, simplified and
named so), high-level inputs and per-candidate particle lists.

Particle types, as a particle-flow reconstruction would call them (our detector keeps the
true PDG id of what it measured): tracks are ``charged_hadron``, ``electron`` or ``muon``;
ECAL deposits are ``photon``; HCAL deposits are ``neutral_hadron``.

Decay-mode finder (after HPS, CMS JINST 11 (2016) P01019, simplified): the signal cone
R_sig = 3.0 GeV / pT(jet), clipped to [0.05, 0.10]; prongs are tracks with pT > 1 GeV in it;
photons (pT > 0.5 GeV within R_sig + 0.05) are clustered into strips around the hardest
remaining one (|d_eta| < 0.05, |d_phi| < 0.20), strips with pT > 2.5 GeV are pi0 candidates.
Decay modes: 1 prong + 0 strips -> 0, 1 prong + strips -> 1, 3 prongs + 0 -> 10,
3 prongs + strips -> 11 (DeepTau's modes); a candidate needs total prong charge +-1; any other
combination is not a tau candidate (-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TYPES = ("charged_hadron", "electron", "muon", "photon", "neutral_hadron")
CHARGED_HADRON, ELECTRON, MUON, PHOTON, NEUTRAL_HADRON = range(len(TYPES))
DECAY_MODES = (0, 1, 10, 11)
PION_MASS_GEV = 0.13957
CONE = 0.5  # particles kept around a candidate
MAX_PARTICLES = 32
PARTICLE_FEATURES = ("d_eta", "d_phi", "log_pt", "log_e", "charge",
                     *(f"is_{t}" for t in TYPES))
HIGH_LEVEL = ("log_pt", "eta", "visible_mass_gev", *(f"dm_{d}" for d in DECAY_MODES),
              "n_prongs", "n_strips", "leading_track_fraction", "signal_fraction",
              "charged_isolation", "photon_isolation", "neutral_hadron_fraction",
              "em_fraction", "has_electron", "has_muon", "n_tracks_cone")


def particle_types(pid: np.ndarray, charge: np.ndarray, eta: np.ndarray,
                   tracker_eta_max: float = 2.5) -> np.ndarray:
    """Type index (into TYPES) of measured particles."""
    a = np.abs(pid)
    track = (charge != 0) & (np.abs(eta) < tracker_eta_max)
    return np.select([track & (a == 11), track & (a == 13), track,
                      (a == 22) | (a == 11)], [ELECTRON, MUON, CHARGED_HADRON, PHOTON],
                     NEUTRAL_HADRON).astype(np.int64)


def wrap(dphi: np.ndarray) -> np.ndarray:
    return (dphi + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class DecayMode:
    """The finder's answer: mode (-1: not a candidate), prong indices, strips (index arrays
    into the given particles), total prong charge and the visible four-momentum [GeV]."""

    mode: int
    prongs: np.ndarray
    strips: list[np.ndarray]
    charge: int
    p4: np.ndarray  # px, py, pz, E of prongs (pion mass) + strips (massless)


def _p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: float) -> np.ndarray:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)], -1)


def find_decay_mode(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, charge: np.ndarray,
                    types: np.ndarray, axis_eta: float, axis_phi: float,
                    jet_pt_gev: float) -> DecayMode:
    """Run the decay-mode finder on the particles around a jet axis (see the module
    docstring); momenta in GeV."""
    r_sig = float(np.clip(3.0 / max(jet_pt_gev, 1e-3), 0.05, 0.10))
    d_eta, d_phi = eta - axis_eta, wrap(phi - axis_phi)
    dr = np.hypot(d_eta, d_phi)
    is_track = types <= MUON
    prongs = np.flatnonzero(is_track & (pt > 1.0) & (dr < r_sig))
    prongs = prongs[np.argsort(-pt[prongs])]
    photons = np.flatnonzero((types == PHOTON) & (pt > 0.5) & (dr < r_sig + 0.05))
    queue = [int(i) for i in photons[np.argsort(-pt[photons])]]
    strips: list[np.ndarray] = []
    while queue:
        seed = queue[0]
        near = [i for i in queue if abs(eta[i] - eta[seed]) < 0.05
                and abs(wrap(phi[i] - phi[seed])) < 0.20]
        queue = [i for i in queue if i not in near]
        if pt[near].sum() > 2.5:
            strips.append(np.array(near, np.int64))
    q = round(float(charge[prongs].sum()))
    n = len(prongs)
    if n == 1 and abs(q) == 1:
        mode = 0 if not strips else 1
    elif n == 3 and abs(q) == 1:
        mode = 10 if not strips else 11
    else:
        mode = -1
    p4 = _p4(pt[prongs], eta[prongs], phi[prongs], PION_MASS_GEV).sum(0)
    for s in strips:
        p4 = p4 + _p4(pt[s], eta[s], phi[s], 0.0).sum(0)
    return DecayMode(mode, prongs, strips, q, p4)


def candidate_inputs(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, energy: np.ndarray,
                     charge: np.ndarray, types: np.ndarray, axis_eta: float,
                     axis_phi: float, jet_pt_gev: float, found: DecayMode
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Particle list (MAX_PARTICLES, len(PARTICLE_FEATURES)), its mask and the high-level
    inputs (len(HIGH_LEVEL),) of one candidate; the particles are those within CONE of the
    axis, hardest first."""
    d_eta, d_phi = eta - axis_eta, wrap(phi - axis_phi)
    dr = np.hypot(d_eta, d_phi)
    cone = np.flatnonzero(dr < CONE)
    cone = cone[np.argsort(-pt[cone])][:MAX_PARTICLES]
    particles = np.zeros((MAX_PARTICLES, len(PARTICLE_FEATURES)), np.float32)
    k = len(cone)
    particles[:k, 0], particles[:k, 1] = d_eta[cone], d_phi[cone]
    particles[:k, 2] = np.log(np.maximum(pt[cone], 1e-3))
    particles[:k, 3] = np.log(np.maximum(energy[cone], 1e-3))
    particles[:k, 4] = charge[cone]
    particles[np.arange(k), 5 + types[cone]] = 1.0
    mask = np.zeros(MAX_PARTICLES, bool)
    mask[:k] = True

    all_cone = dr < CONE
    signal = np.zeros(len(pt), bool)
    signal[found.prongs] = True
    for s in found.strips:
        signal[s] = True
    total = max(pt[all_cone].sum(), 1e-6)
    vis_pt = float(np.hypot(found.p4[0], found.p4[1]))
    m2 = found.p4[3] ** 2 - (found.p4[:3] ** 2).sum()
    annulus = all_cone & ~signal & (dr > 0.1)
    track = types <= MUON
    in_signal_cone = dr < 0.1
    hl = [np.log(max(vis_pt, 1e-3)), float(np.arcsinh(found.p4[2] / max(vis_pt, 1e-6))),
          float(np.sqrt(max(m2, 0.0))),
          *(float(found.mode == d) for d in DECAY_MODES),
          float(len(found.prongs)), float(len(found.strips)),
          float(pt[found.prongs].max() / max(vis_pt, 1e-6)) if len(found.prongs) else 0.0,
          vis_pt / max(jet_pt_gev, 1e-6),
          float(pt[annulus & track].sum() / max(vis_pt, 1e-6)),
          float(pt[annulus & (types == PHOTON)].sum() / max(vis_pt, 1e-6)),
          float(pt[all_cone & (types == NEUTRAL_HADRON)].sum() / total),
          float(pt[all_cone & ((types == PHOTON) | (types == ELECTRON))].sum() / total),
          float((in_signal_cone & (types == ELECTRON)).any()),
          float((in_signal_cone & (types == MUON)).any()),
          float((all_cone & track).sum())]
    return particles, mask, np.asarray(hl, np.float32)
