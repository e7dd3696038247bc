"""The event transformer: one body for all heads, masked losses, symmetries, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.eventmodel.model import EventModelConfig, EventTransformer, pair_features
from aihep.eventmodel.tasks import event_inputs, event_targets, multitask_loss
from aihep.io.assignment import JetEvents
from aihep.nn.train import seeded


def toy(n: int = 12, jets: int = 8, seed: int = 0, lepton: bool = True) -> JetEvents:
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, jets), bool)
    for i, k in enumerate(rng.integers(6, jets + 1, n)):
        mask[i, :k] = True
    cols = {"pt": rng.uniform(25, 200, (n, jets)), "eta": rng.uniform(-2.5, 2.5, (n, jets)),
            "phi": rng.uniform(-np.pi, np.pi, (n, jets)), "mass": rng.uniform(1, 20, (n, jets)),
            "btag": (rng.random((n, jets)) < 0.3).astype(float)}
    cols = {k: np.where(mask, v, 0.0).astype(np.float32) for k, v in cols.items()}
    targets = np.stack([rng.permutation(6) for _ in range(n)])
    lep = np.stack([rng.uniform(30, 80, n), rng.uniform(-2, 2, n), rng.uniform(-3, 3, n),
                    np.full(n, 11.0)], 1) if lepton else np.full((n, 4), np.nan)
    return JetEvents(**cols, mask=mask, targets=targets,
                     partons=rng.normal(0, 50, (n, 6, 4)).astype(np.float32),
                     lepton=lep.astype(np.float32),
                     met=np.stack([rng.uniform(10, 90, n), rng.uniform(-3, 3, n)], 1),
                     higgs_targets=np.full((n, 2), -1),
                     tops=rng.normal(0, 100, (n, 2, 4)).astype(np.float32)
                     + np.array([0, 0, 0, 400], np.float32))


def model(attention: str = "split") -> EventTransformer:
    with seeded(2):
        return EventTransformer(EventModelConfig(hidden=16, layers=2, heads=2,
                                                 attention=attention))


@pytest.mark.parametrize("attention", ["split", "full"])
def test_one_forward_pass_feeds_every_head(attention):
    events = toy()
    inputs = event_inputs(events)
    net = model(attention)
    calls = []
    net.layers[0].register_forward_hook(lambda *args: calls.append(1))
    out = net(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
    assert len(calls) == 1  # the body ran once for all heads
    assert out["classification"].shape == (12, 4) and out["assignment"].shape == (12, 2, 8, 8, 8)
    assert out["regression"].shape == (12, 7) and out["segmentation"].shape == (12, 8, 4)
    losses = multitask_loss(net, inputs, event_targets(events, 1), hide_fraction=0.3,
                            generator=torch.Generator().manual_seed(0))
    losses["total"].backward()
    # every head and the body receive gradients
    for name in ("embed", "classify", "regress", "segment", "reconstruct", "assign"):
        grads = [p.grad for p in getattr(net, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name


def test_object_permutation_invariance():
    events = toy(lepton=False)
    inputs = event_inputs(events)
    net = model().eval()
    perm = torch.cat([torch.randperm(8, generator=torch.Generator().manual_seed(3)),
                      torch.tensor([8, 9])])
    with torch.no_grad():
        a = net(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
        b = net(inputs["objects"][:, perm], inputs["types"][:, perm], inputs["p4"][:, perm],
                inputs["mask"][:, perm], 8)
    torch.testing.assert_close(a["classification"], b["classification"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a["regression"], b["regression"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a["segmentation"][:, perm[:8]], b["segmentation"], atol=1e-4,
                               rtol=1e-4)


def test_missing_targets_are_masked():
    events = toy(lepton=False)
    inputs = event_inputs(events)
    targets = event_targets(events, -1)  # no label
    targets["assignment"][:] = -1  # no assignment
    targets["regression"][:] = float("nan")
    net = model()
    losses = multitask_loss(net, inputs, targets)
    for k in ("classification", "assignment", "regression", "reconstruction"):
        assert float(losses[k].detach()) == 0.0, k
    assert torch.isfinite(losses["total"]) and float(losses["segmentation"].detach()) > 0
    # events without a lepton: the lepton object is masked and has no neutrino target
    assert not inputs["mask"][:, 8].any() and torch.isnan(
        event_targets(events, 0)["regression"][:, 4:]).all()


def test_events_without_truth_only_train_reconstruction(tmp_path):
    """Unlabelled events (the benchmark's all-hadronic pretraining part) carry no target of
    any head, also after a write / read round trip: only masked-object reconstruction."""
    from aihep.io.assignment import read_jet_events, write_events

    events = toy()
    path = write_events(tmp_path / "unlabelled.h5", events.without_truth())
    bare = read_jet_events(path)
    assert bare.tops is None and bare.partons is None and (bare.targets == -1).all()
    np.testing.assert_array_equal(bare.pt, events.pt)
    np.testing.assert_array_equal(bare.lepton, events.lepton)
    targets = event_targets(bare, -1)
    assert (targets["assignment"] == -1).all() and torch.isnan(targets["regression"]).all()
    assert not bare.has_truth and events.has_truth
    assert (targets["segmentation"] == -1).all()
    losses = multitask_loss(model(), event_inputs(bare), targets, hide_fraction=0.5,
                            generator=torch.Generator().manual_seed(0))
    for k in ("classification", "assignment", "regression", "segmentation"):
        assert float(losses[k].detach()) == 0.0, k
    assert float(losses["reconstruction"].detach()) > 0
    # an unlabelled file keeps no truth in file-level training (the CLI's unlabelled=FILE)
    from aihep.eventmodel.files import read_part

    with_truth = write_events(tmp_path / "allhad.h5", events)
    read, label = read_part(with_truth, None)
    assert label is None and not read.has_truth and (read.targets == -1).all()
    assert read_part(with_truth, "ttbar")[0].has_truth
    # the events with truth do train those heads
    full = multitask_loss(model(), event_inputs(events), event_targets(events, 0))
    for k in ("classification", "assignment", "regression", "segmentation"):
        assert float(full[k].detach()) > 0, k


def test_pair_features_are_symmetric_and_masked():
    inputs = event_inputs(toy())
    f = pair_features(inputs["p4"], inputs["mask"])
    torch.testing.assert_close(f, f.transpose(1, 2))
    pad = ~inputs["mask"]
    assert (f[pad] == 0).all()


def test_save_load_round_trip(tmp_path):
    net = model().eval()
    torch.save(net.state_dict(), tmp_path / "m.pt")
    again = EventTransformer(net.config)
    again.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    inputs = event_inputs(toy())
    with torch.no_grad():
        a = net(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
        b = again.eval()(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    with pytest.raises(ValueError, match="multiple of heads"):
        EventTransformer(EventModelConfig(hidden=18, heads=4))


def test_pretrain_then_finetune_on_hand_made_tops(tmp_path):
    """Pretraining (labels of two processes + masked objects) then fine-tuning the
    assignment head from the pretrained weights; both run through the one training loop."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "assign"))
    from ttbar_toy import hand_made

    from aihep.eventmodel.run import EventTrainConfig, evaluate_event_model, train_event_model
    from aihep.nn.train import TrainConfig

    ttbar = hand_made(300, extra_jets=2, seed=1)
    other = toy(300, jets=8, seed=4, lepton=False)
    config = EventTrainConfig(model=EventModelConfig(hidden=32, layers=2, heads=4),
                              train=TrainConfig(epochs=6, batch_size=64, learning_rate=2e-3,
                                                patience=6))
    pretrained, history = train_event_model([(ttbar, 0), (other, 1)], config,
                                            tasks=("classification",),
                                            checkpoint=tmp_path / "pre.ckpt")
    assert history.train_loss[-1] < history.train_loss[0]
    scores = evaluate_event_model(pretrained, other, 1)
    assert scores["probabilities"][:, 1].mean() > 0.6  # it tells the two processes apart
    longer = config.model_copy(update={"train": config.train.model_copy(update={
        "epochs": 15, "patience": 15})})
    tuned, _ = train_event_model([(ttbar, None)], longer, init=pretrained.state_dict(),
                                 tasks=("assignment",))
    rows = evaluate_event_model(tuned, hand_made(100, extra_jets=2, seed=9), 0)["assignment"]
    matched = next(r for r in rows if r["njets"] == "all" and r["subset"] == "matched")
    assert matched["top_efficiency"] > 0.05  # chance: 1 / (8 * 21) = 0.006
    assert (ttbar.targets >= 0).all()  # leaving a task out never touched the events


def test_model_card_round_trip_and_bad_directory(tmp_path):
    from aihep.errors import InputError
    from aihep.eventmodel.run import load_event_model, save_event_model

    net = model().eval()
    save_event_model(net, tmp_path / "m", {"task": "pretraining", "data": {"x": "sha256..."},
                                           "metrics": {"auc": 0.9}})
    again, card = load_event_model(tmp_path / "m")
    assert card["parameters"] == sum(p.numel() for p in net.parameters())
    assert card["metrics"] == {"auc": 0.9} and card["config"]["hidden"] == 16
    inputs = event_inputs(toy())
    with torch.no_grad():
        a = net(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
        b = again(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"], 8)
    torch.testing.assert_close(a["classification"], b["classification"])
    with pytest.raises(InputError, match="event-model directory"):
        load_event_model(tmp_path)


def summary_model() -> EventTransformer:
    with seeded(2):
        return EventTransformer(EventModelConfig(hidden=16, layers=2, heads=2, summary=True))


def test_event_summary_of_a_hand_made_event():
    """HT, counts and masses of two back-to-back b-jets (50 GeV each), a lepton and 30 GeV
    of missing pT, from the reconstructed objects alone."""
    from aihep.eventmodel.model import event_summary

    events = JetEvents(pt=np.array([[50.0, 50.0, 40.0]], np.float32),
                       eta=np.zeros((1, 3), np.float32),
                       phi=np.array([[0.0, np.pi, 1.0]], np.float32),
                       mass=np.zeros((1, 3), np.float32),
                       btag=np.array([[1.0, 1.0, 0.0]], np.float32),
                       mask=np.array([[True, True, False]]), targets=np.full((1, 6), -1),
                       lepton=np.array([[20.0, 0.0, 0.5, 11.0]], np.float32),
                       met=np.array([[30.0, 2.0]]))
    inputs = event_inputs(events)
    s = event_summary(inputs["objects"], inputs["types"], inputs["p4"], inputs["mask"])[0]
    expected = [np.log1p(30) - 4, 1.0, 2 / 4, 2 / 10, np.log1p(100) - 6, np.log1p(120) - 6]
    torch.testing.assert_close(s[:6], torch.tensor(expected, dtype=torch.float32))
    assert abs(float(torch.expm1(s[7] + 5.0)) - 100.0) < 1e-2  # b-jets back to back: m = 100
    assert float(torch.expm1(s[6] + 6.0)) > 100.0  # with the lepton


def test_summary_token_keeps_invariance_and_ignores_hidden_objects():
    events = toy(lepton=False)
    inputs = event_inputs(events)
    net = summary_model().eval()
    assert not hasattr(model(), "summary_embed")
    perm = torch.cat([torch.randperm(8, generator=torch.Generator().manual_seed(3)),
                      torch.tensor([8, 9])])
    args = [inputs[k] for k in ("objects", "types", "p4", "mask")]
    with torch.no_grad():
        a = net(*args, 8)
        b = net(*(x[:, perm] for x in args), 8)
    assert a["segmentation"].shape == (12, 8, 4)  # the token is not an object
    torch.testing.assert_close(a["classification"], b["classification"], atol=1e-4, rtol=1e-4)
    # the summaries do change the output (the token is read) ...
    assert not torch.allclose(a["classification"], model().eval()(*args, 8)["classification"])
    # ... but a hidden object's features reach it neither directly nor through them
    hidden = torch.zeros_like(inputs["mask"])
    hidden[:, 0] = True
    changed = [x.clone() for x in args]
    changed[0][:, 0, 0] += 1.0  # the first jet 2.7x harder
    changed[2][:, 0] *= 2.7
    with torch.no_grad():
        c = net(*args, 8, hidden)
        d = net(*changed, 8, hidden)
    torch.testing.assert_close(c["classification"], d["classification"])


def test_summary_model_card_round_trip(tmp_path):
    from aihep.eventmodel.run import load_event_model, save_event_model

    net = summary_model().eval()
    save_event_model(net, tmp_path / "m", {"task": "classification"})
    again, card = load_event_model(tmp_path / "m")
    assert card["config"]["summary"] and "log HT" in card["inputs"]["summary"]
    inputs = event_inputs(toy())
    args = [inputs[k] for k in ("objects", "types", "p4", "mask")]
    with torch.no_grad():
        torch.testing.assert_close(net(*args, 8)["classification"],
                                   again(*args, 8)["classification"])
