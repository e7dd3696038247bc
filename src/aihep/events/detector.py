"""Parametric detector response: acceptance, thresholds, efficiency and energy smearing.

Numbers live in :class:`aihep.events.config.DetectorConfig`; see its docstring.
"""

from __future__ import annotations

import numpy as np

from aihep.events.config import DetectorConfig
from aihep.events.kinematics import eta as _eta
from aihep.events.pythia import ParticleBatch

ELECTRON, PHOTON = 11, 22


def _lognormal_factor(rel_sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positive multiplicative factors with mean 1 and relative width ``rel_sigma``."""
    s2 = np.log1p(rel_sigma**2)
    return np.exp(rng.standard_normal(rel_sigma.shape) * np.sqrt(s2) - 0.5 * s2)


def _quad(*terms: np.ndarray | float) -> np.ndarray:
    return np.sqrt(sum(np.square(t) for t in terms))


def apply_detector(batch: ParticleBatch, config: DetectorConfig,
                   rng: np.random.Generator) -> ParticleBatch:
    """Return the particles as the detector measures them.

    Args:
        batch: final-state visible particles (GeV).
        config: detector numbers; ``kind="truth"`` returns ``batch`` unchanged.
        rng: source of the smearing and efficiency randomness.
    """
    return measure(batch, config, rng)[0]


def measure(batch: ParticleBatch, config: DetectorConfig,
            rng: np.random.Generator) -> tuple[ParticleBatch, np.ndarray]:
    """:func:`apply_detector` plus the indices (into ``batch``) of the measured particles,
    so per-particle truth (production vertex, true id) can follow them."""
    if config.kind == "truth" or len(batch.px) == 0:
        return batch, np.arange(len(batch.px))
    px, py, pz, e = batch.px, batch.py, batch.pz, batch.e
    p_t = np.hypot(px, py)
    abs_eta = np.abs(_eta(px, py, pz))
    abs_pid = np.abs(batch.pid)
    charged = batch.charge != 0

    in_tracker = charged & (abs_eta < config.tracker_eta_max)
    tracked = in_tracker & (p_t > config.track_pt_min_gev)
    tracked &= rng.random(len(px)) < config.track_efficiency
    # Charged particles below threshold curl up and are lost; lost-by-inefficiency ones leave
    # their energy in the calorimeters (electrons in the ECAL, hadrons in the HCAL).
    below_threshold = in_tracker & (p_t <= config.track_pt_min_gev)
    calo = ~tracked & ~below_threshold
    ecal = calo & ((abs_pid == PHOTON) | (abs_pid == ELECTRON))
    ecal &= (abs_eta < config.ecal_eta_max) & (e > config.ecal_e_min_gev)
    hcal = calo & (abs_pid != PHOTON) & (abs_pid != ELECTRON)
    hcal &= (abs_eta < config.hcal_eta_max) & (e > config.hcal_e_min_gev)

    rel = np.zeros_like(e)
    rel[tracked] = _quad(config.track_res_const, config.track_res_per_gev * p_t[tracked])
    e_safe = np.maximum(e, 1e-6)
    rel[ecal] = _quad(config.ecal_stochastic / np.sqrt(e_safe[ecal]), config.ecal_const)
    rel[hcal] = _quad(config.hcal_stochastic / np.sqrt(e_safe[hcal]), config.hcal_const)
    keep = tracked | ecal | hcal

    factor = _lognormal_factor(rel, rng)
    # Tracks keep their mass hypothesis; calorimeter deposits scale E with p (mass scales too).
    p2 = px * px + py * py + pz * pz
    m2 = np.maximum(e * e - p2, 0.0)
    e_new = np.where(tracked, np.sqrt(p2 * factor**2 + m2), e * factor)
    measured = ParticleBatch(
        px=px * factor, py=py * factor, pz=pz * factor, e=e_new,
        pid=batch.pid, charge=batch.charge, counts=batch.counts,
        mhat_gev=batch.mhat_gev, pthat_gev=batch.pthat_gev, weight=batch.weight,
    )
    return measured.select(keep), np.flatnonzero(keep)
