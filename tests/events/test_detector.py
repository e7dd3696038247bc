"""The parametric detector: truth passthrough, resolutions, acceptance, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.events.config import DetectorConfig
from aihep.events.detector import apply_detector
from aihep.events.pythia import ParticleBatch


def _batch(pid: int, charge: float, e: float, eta: float, n: int) -> ParticleBatch:
    pt = e / np.cosh(eta)
    ones = np.ones(n)
    return ParticleBatch(px=pt * ones, py=0 * ones, pz=pt * np.sinh(eta) * ones, e=e * ones,
                         pid=np.full(n, pid, np.int32), charge=np.full(n, charge, np.float32),
                         counts=np.array([n]), mhat_gev=np.zeros(1), pthat_gev=np.zeros(1),
                         weight=np.ones(1))


def test_truth_is_unchanged():
    batch = _batch(22, 0.0, 50.0, 0.3, 10)
    assert apply_detector(batch, DetectorConfig(kind="truth"), np.random.default_rng(0)) is batch


@pytest.mark.parametrize(("pid", "charge", "energy", "expected"), [
    (22, 0.0, 100.0, np.hypot(0.05 / 10.0, 0.005)),   # ECAL photon
    (130, 0.0, 100.0, np.hypot(1.0 / 10.0, 0.05)),    # HCAL neutral hadron (K_L)
    (211, 1.0, 1000.0, np.hypot(0.005, 0.1)),         # track at 1 TeV
])
def test_energy_resolution(pid, charge, energy, expected):
    config = DetectorConfig(track_efficiency=1.0)
    out = apply_detector(_batch(pid, charge, energy, 0.0, 20000), config,
                         np.random.default_rng(1))
    measured = np.hypot(out.px, out.py) / energy  # eta = 0: pT = |p|
    assert np.mean(measured) == pytest.approx(1.0, abs=3 * expected / np.sqrt(20000) + 1e-3)
    assert np.std(measured) == pytest.approx(expected, rel=0.05)
    assert np.all(out.e > 0)


def test_acceptance_thresholds_and_efficiency():
    config = DetectorConfig()
    rng = np.random.default_rng(2)
    assert len(apply_detector(_batch(130, 0.0, 100.0, 5.5, 100), config, rng).px) == 0
    assert len(apply_detector(_batch(22, 0.0, 0.3, 0.0, 100), config, rng).px) == 0
    # Untracked charged hadrons fall back to the HCAL; with its threshold out of reach only
    # the tracked ones remain.
    no_hcal = DetectorConfig(hcal_e_min_gev=1e6)
    tracks = apply_detector(_batch(211, 1.0, 10.0, 0.0, 20000), no_hcal, rng)
    assert len(tracks.px) / 20000 == pytest.approx(no_hcal.track_efficiency, abs=0.01)
    assert tracks.counts.sum() == len(tracks.px)
    assert len(apply_detector(_batch(211, 1.0, 10.0, 0.0, 500), config, rng).px) == 500
