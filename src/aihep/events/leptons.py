"""Isolated leptons and missing transverse momentum from measured particles.

An isolated lepton is an electron or muon with pT > ``pt_min_gev`` and |eta| < ``eta_max``
whose cone of delta-R ``cone`` holds other particles with a scalar pT sum below
``isolation`` x its own pT. Missing transverse momentum is minus the vector sum of the
measured particles' pT (neutrinos and undetected particles make it).
"""

from __future__ import annotations

import numpy as np

from aihep.events import kinematics as kin
from aihep.events.pythia import ParticleBatch


def isolated_leptons(batch: ParticleBatch, pt_min_gev: float = 25.0, eta_max: float = 2.5,
                     cone: float = 0.3, isolation: float = 0.15
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event the leading isolated lepton and how many there are.

    Returns:
        ``(lepton, count, is_lepton)``: (n_events, 4) pt [GeV], eta, phi [rad], PDG id of the
        leading isolated lepton (NaN when none); (n_events,) the number of isolated leptons;
        (n_particles,) which particles are isolated leptons (to keep them out of jets).
    """
    pt = kin.pt(batch.px, batch.py)
    eta = kin.eta(batch.px, batch.py, batch.pz)
    phi = kin.phi(batch.px, batch.py)
    candidate = (np.isin(np.abs(batch.pid), (11, 13)) & (pt > pt_min_gev)
                 & (np.abs(eta) < eta_max))
    offsets = np.concatenate([[0], np.cumsum(batch.counts)])
    event_of = np.repeat(np.arange(batch.n_events), batch.counts)
    is_lepton = np.zeros(len(pt), bool)
    for i in np.flatnonzero(candidate):
        ev = event_of[i]
        sl = slice(offsets[ev], offsets[ev + 1])
        dphi = (phi[sl] - phi[i] + np.pi) % (2 * np.pi) - np.pi
        near = np.hypot(eta[sl] - eta[i], dphi) < cone
        if pt[sl][near].sum() - pt[i] < isolation * pt[i]:
            is_lepton[i] = True
    lepton = np.full((batch.n_events, 4), np.nan)
    count = np.bincount(event_of[is_lepton], minlength=batch.n_events)
    for ev in np.flatnonzero(count):
        idx = np.flatnonzero(is_lepton[offsets[ev]:offsets[ev + 1]]) + offsets[ev]
        lead = idx[np.argmax(pt[idx])]
        lepton[ev] = (pt[lead], eta[lead], phi[lead], batch.pid[lead])
    return lepton, count, is_lepton


def missing_pt(batch: ParticleBatch) -> np.ndarray:
    """(n_events, 2): missing transverse momentum [GeV] and its azimuth [rad]."""
    event_of = np.repeat(np.arange(batch.n_events), batch.counts)
    mpx = -np.bincount(event_of, weights=batch.px, minlength=batch.n_events)
    mpy = -np.bincount(event_of, weights=batch.py, minlength=batch.n_events)
    return np.stack([np.hypot(mpx, mpy), np.arctan2(mpy, mpx)], axis=1)
