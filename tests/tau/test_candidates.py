"""Tau candidates: the decay-mode finder on hand-made particles, grids of a hand-placed
particle, pile-up and calorimeter shifts, truth labels on generated events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.tau.candidates import (
    CHARGED_HADRON,
    MUON,
    NEUTRAL_HADRON,
    PARTICLE_FEATURES,
    PHOTON,
    TYPES,
    candidate_inputs,
    find_decay_mode,
)
from aihep.tau.model import INNER, OUTER, grids


def particles(rows):
    """rows: (pt, d_eta, d_phi, charge, type) around an axis at eta 0.3, phi 1.0."""
    a = np.array(rows, float)
    return (a[:, 0], 0.3 + a[:, 1], 1.0 + a[:, 2], a[:, 3], a[:, 4].astype(np.int64))


@pytest.mark.parametrize(("rows", "mode", "prongs", "strips"), [
    ([(30, 0.01, 0.0, 1, CHARGED_HADRON)], 0, 1, 0),                      # pi nu
    ([(20, 0.0, 0.01, -1, CHARGED_HADRON), (6, 0.02, 0.05, 0, PHOTON),
      (3, 0.01, 0.07, 0, PHOTON)], 1, 1, 1),                               # rho: one strip
    ([(12, 0.01, 0.0, 1, CHARGED_HADRON), (9, -0.02, 0.01, -1, CHARGED_HADRON),
      (8, 0.0, -0.02, 1, CHARGED_HADRON)], 10, 3, 0),                     # three prongs
    ([(12, 0.01, 0.0, 1, CHARGED_HADRON), (9, -0.02, 0.01, -1, CHARGED_HADRON),
      (8, 0.0, -0.02, 1, CHARGED_HADRON), (5, 0.0, 0.03, 0, PHOTON)], 11, 3, 1),
    ([(12, 0.01, 0.0, 1, CHARGED_HADRON), (9, -0.02, 0.01, 1, CHARGED_HADRON),
      (8, 0.0, -0.02, 1, CHARGED_HADRON)], -1, 3, 0),                     # charge 3: no
    ([(12, 0.01, 0.0, 1, CHARGED_HADRON), (9, -0.02, 0.01, -1, CHARGED_HADRON)], -1, 2, 0),
    ([(30, 0.01, 0.0, 1, CHARGED_HADRON), (10, 0.3, 0.0, 1, CHARGED_HADRON)], 0, 1, 0),
    ([(30, 0.01, 0.0, 1, CHARGED_HADRON), (0.6, 0.0, 0.01, 1, CHARGED_HADRON)], 0, 1, 0),
    ([(20, 0.0, 0.0, 1, CHARGED_HADRON), (1.0, 0.0, 0.03, 0, PHOTON)], 0, 1, 0),  # soft
])
def test_decay_mode_finder(rows, mode, prongs, strips):
    pt, eta, phi, charge, types = particles(rows)
    found = find_decay_mode(pt, eta, phi, charge, types, 0.3, 1.0, jet_pt_gev=40.0)
    assert (found.mode, len(found.prongs), len(found.strips)) == (mode, prongs, strips)


def test_two_photons_far_apart_in_eta_make_two_strips():
    pt, eta, phi, charge, types = particles([(20, 0.0, 0.0, 1, CHARGED_HADRON),
                                             (5, 0.06, 0.0, 0, PHOTON),
                                             (5, -0.06, 0.0, 0, PHOTON)])
    found = find_decay_mode(pt, eta, phi, charge, types, 0.3, 1.0, jet_pt_gev=30.0)
    assert len(found.strips) == 2 and found.mode == 1
    m = np.sqrt(found.p4[3] ** 2 - (found.p4[:3] ** 2).sum())
    assert 0.3 < m < 2.0  # visible mass of pion + two photons


def test_candidate_inputs_and_grids_of_a_hand_placed_particle():
    pt, eta, phi, charge, types = particles([(20, 0.0, 0.0, 1, CHARGED_HADRON),
                                             (4, 0.07, -0.12, 0, NEUTRAL_HADRON),
                                             (2, 0.30, 0.20, -1, MUON),
                                             (9, 0.9, 0.0, 0, PHOTON)])  # outside the cone
    energy = pt * np.cosh(eta)
    found = find_decay_mode(pt, eta, phi, charge, types, 0.3, 1.0, 35.0)
    p, mask, _hl = candidate_inputs(pt, eta, phi, energy, charge, types, 0.3, 1.0, 35.0, found)
    assert p.shape[1] == len(PARTICLE_FEATURES) and mask.sum() == 3  # photon at 0.9 left out
    g_in = grids(torch.from_numpy(p[None]), torch.from_numpy(mask[None]), *INNER)[0]
    g_out = grids(torch.from_numpy(p[None]), torch.from_numpy(mask[None]), *OUTER)[0]
    assert g_in.shape == (2 * len(TYPES), 11, 11) and g_out.shape == (2 * len(TYPES), 21, 21)
    # the charged hadron at (0, 0): centre cell of both grids, pT 20 GeV, one particle
    assert g_in[2 * CHARGED_HADRON, 5, 5] == pytest.approx(np.log1p(20.0), rel=1e-5)
    assert g_in[2 * CHARGED_HADRON + 1, 5, 5] == 1
    assert g_out[2 * CHARGED_HADRON, 10, 10] == pytest.approx(np.log1p(20.0), rel=1e-5)
    # the neutral hadron at (0.07, -0.12): outside the inner grid (+-0.11 in phi)
    assert g_in[2 * NEUTRAL_HADRON + 1].sum() == 0
    # outer cell: row floor((0.07 + 0.525) / 0.05) = 11, column floor((-0.12 + 0.525) / 0.05) = 8
    assert g_out[2 * NEUTRAL_HADRON + 1, 11, 8] == 1
    assert g_out[2 * MUON + 1, 16, 14] == 1  # (0.30, 0.20)
    assert g_out[1::2].sum() == 3  # every particle in the cone counted once


def test_pileup_and_calorimeter_shift():
    from aihep.events.pythia import ParticleBatch
    from aihep.tau.data import TauDomainConfig, add_pileup, shift_calorimeter

    batch = ParticleBatch(px=np.array([10.0, 0.0, 5.0]), py=np.array([0.0, 10.0, 0.0]),
                          pz=np.zeros(3), e=np.array([10.0, 10.0, 5.0]),
                          pid=np.array([211, 22, 130]), charge=np.array([1.0, 0.0, 0.0]),
                          counts=np.array([2, 1]), mhat_gev=np.zeros(2),
                          pthat_gev=np.zeros(2), weight=np.ones(2))
    domain = TauDomainConfig(pileup_mean=5.0, calo_scale=1.05, calo_smear=0.0)
    added = add_pileup(batch, domain, np.random.default_rng(1))
    assert added.counts.sum() > 3 and added.counts[0] >= 2
    assert added.px[0] == 10.0 and added.px[added.counts[0]] == 5.0  # own particles first
    shifted = shift_calorimeter(batch, domain, np.random.default_rng(1))
    assert shifted.e[0] == 10.0  # a track is not a calorimeter deposit
    assert shifted.e[1:] == pytest.approx([10.5, 5.25])


def test_generated_candidates_have_sensible_labels():
    from aihep.tau.data import ELECTRON, JET, TAU, TauDataConfig, chunk_candidates

    taus = chunk_candidates(TauDataConfig(sample="ztautau"), 0, 120)
    assert (taus.label == TAU).sum() > 20 and set(np.unique(taus.label)) <= {TAU, JET}
    true_modes = taus.true_decay_mode[taus.label == TAU]
    assert np.isin(true_modes, [-1, 0, 1, 2, 10, 11, 12]).all() and (true_modes == 1).any()
    reco_one_prong = np.isin(taus.decay_mode[taus.label == TAU], [0, 1])
    assert reco_one_prong.mean() > 0.5  # most hadronic taus are one-prong
    electrons = chunk_candidates(TauDataConfig(sample="zee"), 0, 80)
    assert (electrons.label == ELECTRON).sum() > 30
    assert np.isnan(electrons.true_pt_gev[electrons.label != TAU]).all()
