"""Isolated leptons and missing transverse momentum."""

from __future__ import annotations

import numpy as np

from aihep.events.leptons import isolated_leptons, missing_pt
from aihep.events.pythia import ParticleBatch


def batch(particles: list[list[tuple[float, float, float, int]]]) -> ParticleBatch:
    """Events of (pt [GeV], eta, phi, pid) particles (massless)."""
    flat = [p for event in particles for p in event]
    pt, eta, phi, pid = (np.array(x, float) for x in zip(*flat, strict=True))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    n = len(particles)
    return ParticleBatch(px, py, pz, np.sqrt(px**2 + py**2 + pz**2), pid.astype(int),
                         np.zeros(len(pt)), np.array([len(e) for e in particles]),
                         np.zeros(n), np.zeros(n), np.ones(n))


def test_isolation_threshold_and_acceptance():
    events = batch([
        [(40.0, 0.0, 0.0, 11), (30.0, 1.5, 2.0, 211)],           # isolated electron
        [(40.0, 0.0, 0.0, 13), (10.0, 0.1, 0.1, 211)],           # 10 GeV nearby: not isolated
        [(40.0, 3.0, 0.0, 13), (20.0, 0.0, 0.0, 211)],           # outside |eta| < 2.5
        [(20.0, 0.0, 0.0, 11), (50.0, 0.5, 1.0, -13), (5.0, 0.5, 1.1, 22)],  # mu iso 0.1
    ])
    lepton, count, is_lepton = isolated_leptons(events)
    assert count.tolist() == [1, 0, 0, 1]
    assert lepton[0, 3] == 11 and np.isnan(lepton[1]).all()
    assert abs(lepton[3, 0] - 50.0) < 1e-9
    assert lepton[3, 3] == -13 and is_lepton.sum() == 2


def test_missing_pt_balances_the_visible_momentum():
    events = batch([[(40.0, 0.0, 0.0, 11), (30.0, 1.0, np.pi / 2, 211)]])
    met = missing_pt(events)[0]
    assert abs(met[0] - 50.0) < 1e-9
    assert abs(np.cos(met[1]) + 0.8) < 1e-9 and abs(np.sin(met[1]) + 0.6) < 1e-9
