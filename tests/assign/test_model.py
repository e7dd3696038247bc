"""The SPANet-style network: symmetries, masking, training on hand-made events."""

from __future__ import annotations

import pytest
import torch
from ttbar_toy import hand_made

from aihep.assign.metrics import efficiencies
from aihep.assign.model import (
    AssignmentModelConfig,
    AssignmentNet,
    assignment_loss,
    jet_four_vectors,
    jet_inputs,
    parameter_count,
    predict,
    training_tensors,
)
from aihep.io.assignment import JetEvents
from aihep.nn.train import TrainConfig, seeded, train


def small(attention: str = "split", kinematic: bool = False) -> AssignmentNet:
    with seeded(3):
        return AssignmentNet(AssignmentModelConfig(hidden=16, layers=1, heads=2,
                                                   attention=attention,
                                                   kinematic_features=kinematic))


VARIANTS = [("split", False), ("full", False), ("split", True)]


@pytest.mark.parametrize(("attention", "kinematic"), VARIANTS)
def test_jet_permutation_permutes_the_outputs_and_padding_is_masked(attention, kinematic):
    events = hand_made(4, extra_jets=2)
    net = small(attention, kinematic).eval()
    x, mask, _ = training_tensors(events)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, da = net(x, mask)
        b, db = net(x[:, perm], mask[:, perm])
    idx = torch.argsort(perm)  # jet i of the original is jet idx[i] of the permuted
    torch.testing.assert_close(b[:, :, idx][:, :, :, idx][:, :, :, :, idx], a, atol=1e-4,
                               rtol=1e-4)
    torch.testing.assert_close(da, db, atol=1e-5, rtol=1e-5)
    # W daughters are interchangeable: T[b, j, k] == T[b, k, j]
    finite = torch.isfinite(a)
    torch.testing.assert_close(torch.where(finite, a, 0), torch.where(
        finite, a.transpose(3, 4), 0))
    # a padded jet is never chosen, and padding does not change the valid jets' outputs
    padded_mask = mask.clone()
    padded_mask[:, 7] = False
    padded_x = x.clone()
    padded_x[:, 7] = 0.0
    with torch.no_grad():
        c, _ = net(padded_x, padded_mask)
    assert torch.isinf(c[:, :, 7]).all() and torch.isinf(c[:, :, :, 7]).all()


@pytest.mark.parametrize(("attention", "kinematic"), VARIANTS)
def test_loss_is_invariant_under_top_and_quark_swaps_of_the_targets(attention, kinematic):
    events = hand_made(6, extra_jets=1)
    net = small(attention, kinematic)
    x, mask, t = training_tensors(events)
    swapped = t[:, [3, 5, 4, 0, 2, 1]]
    with torch.no_grad():
        assert float(assignment_loss(net, (x, mask, t))) == pytest.approx(
            float(assignment_loss(net, (x, mask, swapped))), rel=1e-5)
    missing = t.clone()
    missing[:, 4] = -1  # a top that is not reconstructable: its triplet term is masked
    assert torch.isfinite(assignment_loss(net, (x, mask, missing)))


def test_four_vectors_from_the_network_inputs():
    events = hand_made(3, extra_jets=1)
    p4 = jet_four_vectors(torch.from_numpy(jet_inputs(events)).double())
    pt = torch.hypot(p4[..., 0], p4[..., 1])
    mass = torch.sqrt((p4[..., 3] ** 2 - (p4[..., :3] ** 2).sum(-1)).clamp(min=0))
    real = torch.from_numpy(events.mask)
    torch.testing.assert_close(pt[real], torch.from_numpy(events.pt).double()[real],
                               rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(mass[real], torch.from_numpy(events.mass).double()[real],
                               rtol=1e-2, atol=0.05)


def test_kinematic_features_see_the_w_and_top_masses():
    events = hand_made(4, extra_jets=2)
    net = small(kinematic=True)
    x, mask, t = training_tensors(events)
    _, terms = net.kinematics(x, mask)
    assert terms.shape == (4, 2, 8, 8, 8) and not terms.any()  # zero at the start
    with torch.no_grad():  # a chi2 in ln m: the exact W and top masses score highest
        net.kinematics.quadratic[:] = torch.tensor([0.0, 0.0, -10.0, -10.0, 0.0])
        _, terms = net.kinematics(x, mask)
    for event in range(4):
        best = int(torch.argmax(terms[event, 0]))
        triplet = (best // 64, best // 8 % 8, best % 8)
        tops = [tuple(int(v) for v in t[event, i:i + 3]) for i in (0, 3)]
        assert triplet in tops + [(b, q2, q1) for b, q1, q2 in tops]
        b, q1, q2 = tops[0]
        assert terms[event, 0, b, q1, q2] == terms[event, 0, b, q2, q1]


def test_training_learns_hand_made_events(tmp_path):
    train_events = hand_made(600, extra_jets=2, seed=5)
    test_events = hand_made(200, extra_jets=2, seed=6)
    with seeded(1):
        net = AssignmentNet(AssignmentModelConfig(hidden=32, layers=2, heads=4))
    n = 500
    data = training_tensors(train_events)
    train(net, assignment_loss, [d[:n] for d in data], [d[n:] for d in data],
          TrainConfig(epochs=25, batch_size=64, learning_rate=2e-3, patience=25),
          checkpoint=tmp_path / "ckpt")
    predictions, detection = predict(net, test_events)
    rows = efficiencies(predictions, test_events.targets, test_events.n_jets, "net")
    matched = next(r for r in rows if r["njets"] == ">=8" and r["subset"] == "matched")
    assert matched["top_efficiency"] > 0.25  # chance: 1 / (8 * 21) = 0.006 per top
    assert detection.mean() > 0.7  # every top is reconstructable here
    assert parameter_count(net) > 0 and jet_inputs(test_events).shape == (200, 8, 6)


def test_decode_never_reuses_a_jet():
    events = hand_made(20, extra_jets=0)
    predictions, _ = predict(small(), events)
    for row in predictions:
        assert len(set(row)) == 6 and (row >= 0).all()
    assert isinstance(events, JetEvents)


def test_five_jets_leave_the_second_top_unassigned():
    events = hand_made(3, extra_jets=0)
    mask = events.mask.copy()
    mask[:, 5] = False
    short = JetEvents(events.pt, events.eta, events.phi, events.mass, events.btag, mask,
                      events.targets)
    predictions, _ = predict(small(), short)
    for row in predictions:
        assigned = row[row >= 0]
        assert len(assigned) == 3 and (assigned < 5).all()


def test_gradients_stay_finite_with_unmatched_partons():
    """A partly matched top (a parton without a jet) must not poison the gradients: its
    clamped index points at a masked triplet, whose -inf once gave NaN through logsumexp."""
    events = hand_made(8, extra_jets=1)
    net = small()
    x, mask, t = training_tensors(events)
    t = t.clone()
    t[:4, 4] = -1  # second top partly matched
    t[4:, :3] = -1  # first top not matched at all
    loss = assignment_loss(net, (x, mask, t))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
