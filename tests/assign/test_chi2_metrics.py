"""The chi2 baseline on hand-made events, and the symmetric efficiency metrics."""

from __future__ import annotations

import numpy as np
import pytest
from ttbar_toy import M_T, M_W, hand_made

from aihep.assign.chi2 import MassModel, chi2_assign, fit_masses
from aihep.assign.metrics import (
    efficiencies,
    predicted_top_correct,
    reconstructed_tops,
    top_matches,
)
from aihep.io.assignment import JetEvents


def test_chi2_finds_exact_tops_and_masses_are_fitted():
    events = hand_made(30, extra_jets=2)
    model = fit_masses(events)
    assert model.m_top == pytest.approx(M_T, rel=2e-3) and model.m_w == pytest.approx(
        M_W, rel=2e-3)
    predictions, chi2 = chi2_assign(events, MassModel(M_T, 10.0, M_W, 5.0))
    rows = efficiencies(predictions, events.targets, events.n_jets, "chi2")
    matched = next(r for r in rows if r["njets"] == ">=8" and r["subset"] == "matched")
    assert matched["event_efficiency"] == 1.0 and np.all(chi2 < 1e-3)


def test_chi2_without_two_btags_gives_no_assignment():
    events = hand_made(3, extra_jets=0)
    btag = events.btag.copy()
    btag[:, :] = 0.0
    none = JetEvents(events.pt, events.eta, events.phi, events.mass, btag, events.mask,
                     events.targets)
    predictions, chi2 = chi2_assign(none, MassModel(M_T, 10.0, M_W, 5.0))
    assert (predictions == -1).all() and np.isinf(chi2).all()


def test_metrics_are_invariant_under_top_and_quark_swaps():
    rng = np.random.default_rng(2)
    targets = np.stack([rng.permutation(8)[:6] for _ in range(200)])
    predictions = targets.copy()
    wrong = rng.random(200) < 0.3
    predictions[wrong, 1] = 7  # a wrong light jet in top 1
    swapped = predictions[:, [3, 5, 4, 0, 2, 1]]  # t1 <-> t2 and q1 <-> q2
    n_jets = np.full(200, 8)
    a = efficiencies(predictions, targets, n_jets, "x")
    b = efficiencies(swapped, targets, n_jets, "x")
    np.testing.assert_array_equal([r["event_efficiency"] for r in a],
                                  [r["event_efficiency"] for r in b])
    correct, reconstructable = top_matches(predictions, targets)
    assert reconstructable.all() and correct[:, 1].all()
    assert correct[:, 0].mean() == pytest.approx(1 - (wrong & (targets[:, 1] != 7)).mean())


def test_all_subset_counts_only_reconstructable_tops():
    targets = np.array([[0, 1, 2, 3, -1, 5], [0, 1, 2, 3, 4, 5]])
    predictions = np.array([[0, 2, 1, 5, 4, 3], [3, 4, 5, 0, 1, 2]])
    rows = efficiencies(predictions, targets, np.array([6, 6]), "x")
    by = {(r["njets"], r["subset"]): r for r in rows}
    assert by["6", "all"]["event_efficiency"] == 1.0  # event 0: only t1 reconstructable
    assert by["6", "matched"]["events"] == 1 and by["6", "matched"]["event_efficiency"] == 1.0
    assert by["6", "all"]["top_efficiency"] == 1.0


def test_events_with_fewer_jets_than_partons_are_handled():
    """Five jets: chi2 gives no assignment; the metrics count such an event only where a top
    is reconstructable."""
    events = hand_made(4, extra_jets=0)
    mask = events.mask.copy()
    mask[:, 5] = False
    short = JetEvents(events.pt, events.eta, events.phi, events.mass, events.btag, mask,
                      np.where(events.targets == 5, -1, events.targets))
    predictions, _ = chi2_assign(short, MassModel(M_T, 10.0, M_W, 5.0))
    assert (predictions == -1).all()
    rows = efficiencies(predictions, short.targets, short.n_jets, "chi2")
    assert all(r["events"] == 0 for r in rows if r["subset"] == "matched")


def test_reconstructed_tops_of_the_true_jets_have_the_top_and_w_masses():
    events = hand_made(10, extra_jets=1)
    tops = reconstructed_tops(events, events.targets)
    np.testing.assert_allclose(tops["top_mass"], M_T, rtol=1e-3)
    np.testing.assert_allclose(tops["w_mass"], M_W, rtol=1e-3)
    assert np.all(tops["top_pt"] > 0) and np.all(np.abs(tops["top_phi"]) <= np.pi)
    partial = events.targets.copy()
    partial[0, 4] = -1  # t2/q1 unassigned: that top has no candidate
    tops = reconstructed_tops(events, partial)
    assert np.isnan(tops["top_mass"][0, 1]) and np.isfinite(tops["top_mass"][0, 0])


def test_predicted_tops_are_right_in_either_order():
    events = hand_made(5, extra_jets=1)
    t = events.targets
    swapped = np.concatenate([t[:, 3:], t[:, [0, 2, 1]]], axis=1)  # t1 <-> t2, q1 <-> q2
    assert predicted_top_correct(swapped, t).all()
    wrong = swapped.copy()
    wrong[:, 0] = t[:, 1]  # a light jet as the b of the first predicted top
    right = predicted_top_correct(wrong, t)
    assert not right[:, 0].any() and right[:, 1].all()
