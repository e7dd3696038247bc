"""N-subjettiness and soft drop on constructed jets, and soft drop against FastJet's own."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from aihep.events.substructure import nsubjettiness, softdrop_mass


def _jets(particles: list[list[tuple[float, float, float, float]]]) -> ak.Array:
    """Jets from (pt, y, phi, m) tuples -> records with px, py, pz, E."""
    out = []
    for jet in particles:
        rows = []
        for pt, y, phi, m in jet:
            mt = np.hypot(pt, m)
            rows.append({"px": pt * np.cos(phi), "py": pt * np.sin(phi),
                         "pz": mt * np.sinh(y), "E": mt * np.cosh(y)})
        out.append(rows)
    return ak.Array(out, with_name="Momentum4D")


def test_tau1_of_two_equal_prongs_is_half_separation_over_r():
    d, radius = 0.4, 1.0
    jets = _jets([[(500.0, 0.0, 0.0, 0.0), (500.0, 0.0, d, 0.0), (1e-3, 0.05, 0.1, 0.0),
                   (1e-3, -0.05, 0.2, 0.0)]])
    taus = nsubjettiness(jets, radius)
    assert taus[0, 0] == pytest.approx(d / (2 * radius), rel=0.01)
    assert taus[0, 1] < 1e-4  # two prongs: tau2 ~ 0
    assert taus[0, 1] / taus[0, 0] < 0.01


def test_tau_is_zero_when_n_reaches_constituent_count():
    taus = nsubjettiness(_jets([[(100.0, 0.0, 0.0, 0.0), (50.0, 0.1, 0.1, 0.0)]]), 1.0)
    assert np.all(taus[0] == 0.0)


def test_softdrop_removes_soft_wide_angle_radiation():
    hard = [(500.0, 0.0, 0.0, 0.0), (400.0, 0.1, 0.35, 0.0)]
    soft = (5.0, 0.6, -0.6, 0.0)
    jets = _jets([[*hard, soft], hard])
    msd = softdrop_mass(jets, radius=1.0, zcut=0.1, beta=0.0)
    full = jets[0]
    m_full = np.sqrt(ak.sum(full.E) ** 2 - ak.sum(full.px) ** 2 - ak.sum(full.py) ** 2
                     - ak.sum(full.pz) ** 2)
    assert msd[0] == pytest.approx(msd[1], rel=1e-9)  # soft particle groomed away
    assert m_full > msd[0] * 1.05


def test_softdrop_matches_fastjet_contrib(qcd_events):
    import fastjet

    from aihep.events.pythia import silence_stdout

    jets = ak.flatten(qcd_events.jets, axis=1)[:120]
    c = jets.constituents  # capped at 200, enough for the comparison
    four = ak.zip({"px": c.pt * np.cos(c.phi), "py": c.pt * np.sin(c.phi),
                   "pz": c.pt * np.sinh(c.eta), "E": c.e}, with_name="Momentum4D")
    four = ak.values_astype(four, np.float64)
    ours = softdrop_mass(four, radius=1.0)
    with silence_stdout():
        seq = fastjet.ClusterSequence(four, fastjet.JetDefinition(fastjet.cambridge_algorithm,
                                                                  1000.0))
        ref = seq.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=1.0)
    np.testing.assert_allclose(ours, ak.to_numpy(ref.msoftdrop), rtol=1e-7, atol=1e-6)
