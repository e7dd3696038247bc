"""PID tracks from Pythia minimum bias and the two domains."""

from __future__ import annotations

import numpy as np

from aihep.pid.data import DomainConfig, generate_tracks, shifted_data_domain
from aihep.pid.detectors import SPECIES


def test_minimum_bias_tracks_have_realistic_composition_and_acceptance():
    tracks = generate_tracks(DomainConfig(), 300, seed=2)
    assert 5 < len(tracks) / 300 < 20  # ~11 charged e/pi/K/p per event in |eta| < 0.9
    assert (np.abs(tracks.eta) < 0.9).all() and (tracks.pt_gev > 0.15).all()
    fractions = np.bincount(tracks.species, minlength=4) / len(tracks)
    assert fractions[SPECIES.index("pi")] > 0.75
    assert 0.04 < fractions[SPECIES.index("K")] < 0.15
    assert 0.02 < fractions[SPECIES.index("p")] < 0.08
    assert not np.isfinite(tracks.signals.tof[tracks.p_gev < 0.5]).any()


def test_the_data_domain_is_shifted_as_configured():
    data = shifted_data_domain(1.0)
    assert data.detector.tpc_gain == 1.025 and data.detector.tof_offset_ps == 25.0
    assert data.detector.tof_resolution_ps == 100.0 and data.pythia_tune != 14
    assert data.keep_fraction["K"] == 0.85 and data.keep_fraction["p"] == 0.8
    same = shifted_data_domain(0.0)
    assert same.detector == DomainConfig().detector and same.pythia_tune == 14


def test_v0_sample_tags_pions_and_protons_by_decay_kinematics():
    from aihep.pid.data import v0_sample

    tracks = generate_tracks(DomainConfig(), 800, seed=3)
    v0 = v0_sample(tracks)
    assert len(v0.index) > 50 and v0.candidates["K0S"] > v0.candidates["Lambda"] > 0
    assert set(np.unique(v0.species)) <= {SPECIES.index("pi"), SPECIES.index("p")}
    assert v0.purity > 0.9  # displaced vertex + mass window
    assert np.isin(tracks.mother_pid[v0.index], [310, 3122]).mean() > 0.9
    # without the displacement requirement the sample fills with prompt combinatorics
    loose = v0_sample(tracks, min_radius_mm=-1e9)
    assert np.isin(tracks.mother_pid[loose.index], [310, 3122]).mean() < 0.5


def test_select_and_gain_calibration_on_v0_pions():
    from aihep.pid.data import v0_sample
    from aihep.pid.methods import calibrate_on_v0

    data = generate_tracks(shifted_data_domain(1.0), 800, seed=6)  # gain +2.5%
    half = data.select(np.arange(len(data) // 2))
    assert len(half) == len(data) // 2 and len(half.signals.tpc) == len(half)
    v0 = v0_sample(data)
    calibrated = calibrate_on_v0(data, v0.index, v0.species, DomainConfig().detector)
    assert abs(calibrated.tpc_gain - 1.025) < 0.01
