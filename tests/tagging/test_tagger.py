"""Training, saving, loading, metrics and export of taggers on toy jets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.nn.train import TrainConfig
from aihep.tagging.tagger import TaggerConfig, export_onnx, load_tagger, train_tagger
from toyjets import toy_jets

FAST = TrainConfig(epochs=6, batch_size=64, learning_rate=3e-3, patience=6)


@pytest.fixture(scope="module")
def jets():
    return toy_jets(400, seed=1)


def test_network_beats_the_bdt_when_the_information_is_per_particle(jets, tmp_path):
    test = toy_jets(300, seed=2)
    bdt = train_tagger(jets, tmp_path / "bdt", TaggerConfig(model="bdt"))
    pfn = train_tagger(jets, tmp_path / "pfn", TaggerConfig(
        model="pfn-lite", feature_set="kinpid", max_particles=48, train=FAST))
    auc = {}
    for name in ("bdt", "pfn"):
        probs = load_tagger(tmp_path / name).predict_proba(test)
        from aihep.tagging.metrics import tagger_metrics

        auc[name] = tagger_metrics(probs, test.labels, test.classes).auc["Wqq"]
    assert bdt.validation.auc["Wqq"] < 0.65  # jet observables cannot see the charge content
    assert auc["pfn"] > 0.9 and auc["pfn"] > auc["bdt"] + 0.25
    assert (tmp_path / "pfn" / "manifest.json").is_file()
    assert pfn.train_jets_per_second > 0


@pytest.mark.parametrize("model", ["particlenet-lite", "part-lite"])
def test_graph_and_transformer_taggers_learn(jets, tmp_path, model):
    run = train_tagger(jets, tmp_path / model, TaggerConfig(
        model=model, feature_set="kinpid", max_particles=32,
        train=FAST.model_copy(update={"epochs": 4})))
    assert run.validation.accuracy > 0.75
    tagger = load_tagger(tmp_path / model)
    again = tagger.predict_proba(jets.take(np.arange(50)))
    assert again.shape == (50, 2) and np.allclose(again.sum(1), 1.0, atol=1e-5)


def test_resume_continues_from_the_checkpoint(jets, tmp_path):
    config = TaggerConfig(model="pfn-lite", feature_set="kinpid", max_particles=32,
                          train=FAST.model_copy(update={"epochs": 4, "cosine_schedule": False}))
    straight = train_tagger(jets, tmp_path / "a", config)
    first = train_tagger(jets, tmp_path / "b", config.model_copy(update={
        "train": config.train.model_copy(update={"epochs": 2})}))
    assert len(first.history["train_loss"]) == 2
    resumed = train_tagger(jets, tmp_path / "b", config)
    np.testing.assert_allclose(resumed.history["val_loss"], straight.history["val_loss"],
                               rtol=1e-5)
    # a finished run re-opened trains nothing; its speed still comes from the epochs it ran
    again = train_tagger(jets, tmp_path / "b", config)
    assert again.history["epoch_seconds"] == resumed.history["epoch_seconds"]
    assert again.train_jets_per_second == pytest.approx(resumed.train_jets_per_second)


def test_onnx_export_matches_torch(jets, tmp_path):
    pytest.importorskip("onnxruntime", reason="install aihep[onnx] for ONNX export")
    import onnxruntime

    train_tagger(jets, tmp_path / "pn", TaggerConfig(
        model="particlenet-lite", feature_set="kinpid", max_particles=32,
        train=FAST.model_copy(update={"epochs": 1})))
    path = export_onnx(tmp_path / "pn", tmp_path / "pn.onnx")
    tagger = load_tagger(tmp_path / "pn")
    inputs = tagger.inputs(jets.take(np.arange(7)))
    with torch.no_grad():
        expected = tagger.network(*inputs).numpy()
    session = onnxruntime.InferenceSession(str(path))
    got = session.run(None, {n: t.numpy() for n, t in zip(
        ("features", "points", "vectors", "mask"), inputs, strict=True)})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
