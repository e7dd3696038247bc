"""Pretraining, fine-tuning and evaluation of the event transformer.

    model, history = train_event_model([(semi, 0), (tth, 1), (qcd, 3), (allhad, None)],
                                       EventTrainConfig())           # pretraining
    tuned, _ = train_event_model([(allhad_train, 2)], config, init=model.state_dict(),
                                 tasks=("assignment",))              # fine-tuning
    scores = evaluate_event_model(tuned, test_events, label=2)

Each part of the training data is (events, process label or None). ``tasks`` keeps only
those targets (the others become missing and are masked); a part with label None keeps no
label. With ``"reconstruction"`` among the tasks (pretraining), ``hide_fraction`` of the
objects of every event are hidden and their features reconstructed; fine-tuning leaves it
out, so every object is seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep.eventmodel.model import SUMMARY_FEATURES, EventModelConfig, EventTransformer
from aihep.eventmodel.tasks import event_inputs, event_targets, multitask_loss
from aihep.io.assignment import JetEvents
from aihep.nn.train import TrainConfig, TrainResult, seeded, train

TASKS = ("classification", "assignment", "regression", "segmentation", "reconstruction")
PROCESS_LABELS = {"ttbar-semileptonic": 0, "tth-bb": 1, "ttbar": 2, "qcd-multijet": 3}
"""Class index of each process in the classification head."""
_KEYS = ("objects", "types", "p4", "mask", "label", "assignment", "regression",
         "segmentation")


class EventTrainConfig(BaseModel):
    """The network, the optimization, the hidden-object share and the validation split."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: EventModelConfig = Field(default_factory=EventModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=256, learning_rate=1e-3, patience=5))
    hide_fraction: float = Field(0.15, ge=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)


def pack(events: JetEvents, label: int | None, tasks: Sequence[str] = TASKS
         ) -> tuple[torch.Tensor, ...]:
    """Inputs and targets as a tuple of tensors (order ``_KEYS``); targets of tasks not in
    ``tasks`` are made missing."""
    inputs = event_inputs(events)
    targets = event_targets(events, -1 if label is None else label)
    if "classification" not in tasks:
        targets["label"][:] = -1
    if "assignment" not in tasks:
        targets["assignment"][:] = -1
    if "regression" not in tasks:
        targets["regression"][:] = float("nan")
    if "segmentation" not in tasks:
        targets["segmentation"][:] = -1
    return tuple({**inputs, **targets}[k] for k in _KEYS)


def _loss(hide_fraction: float):
    def loss(module: EventTransformer, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        data = dict(zip(_KEYS, batch, strict=True))
        inputs = {k: data[k] for k in ("objects", "types", "p4", "mask")}
        targets = {k: data[k] for k in ("label", "assignment", "regression", "segmentation")}
        return multitask_loss(module, inputs, targets, hide_fraction)["total"]

    return loss


def train_event_model(parts: Sequence[tuple[JetEvents, int | None]],
                      config: EventTrainConfig | None = None,
                      init: dict[str, torch.Tensor] | None = None,
                      tasks: Sequence[str] = TASKS, checkpoint: Any = None,
                      progress: Any = None) -> tuple[EventTransformer, TrainResult]:
    """Train (or fine-tune from ``init``) on the concatenated parts; returns the model with
    its best validation weights and the history."""
    config = config or EventTrainConfig()
    packed = [pack(events, label, tasks) for events, label in parts]
    data = [torch.cat([p[i] for p in packed]) for i in range(len(_KEYS))]
    n = len(data[0])
    order = torch.from_numpy(np.random.default_rng(config.train.seed).permutation(n))
    n_val = max(1, round(config.val_fraction * n))
    val = [d[order[:n_val]] for d in data]
    trn = [d[order[n_val:]] for d in data]
    with seeded(config.model.seed):
        model = EventTransformer(config.model)
    if init is not None:
        model.load_state_dict(init)
    with seeded(config.train.seed):
        hide = config.hide_fraction if "reconstruction" in tasks else 0.0
        result = train(model, _loss(hide), trn, val, config.train,
                       checkpoint=checkpoint, progress=progress)
    return model, result


def evaluate_event_model(model: EventTransformer, events: JetEvents, label: int,
                         batch_size: int = 512) -> dict[str, Any]:
    """Class probabilities, assignment efficiencies (matched, by jet count), regression
    resolutions (68% half-widths of prediction - truth, in GeV) and the segmentation
    accuracy on real jets."""
    from aihep.assign.metrics import efficiencies
    from aihep.assign.model import decode

    model.eval()
    inputs = event_inputs(events)
    targets = event_targets(events, label)
    n_jets = events.mask.shape[1]
    probs, assignment, regression, segments = [], [], [], []
    with torch.no_grad():
        for s in range(0, len(events), batch_size):
            sl = slice(s, s + batch_size)
            out = model(inputs["objects"][sl], inputs["types"][sl], inputs["p4"][sl],
                        inputs["mask"][sl], n_jets)
            probs.append(torch.softmax(out["classification"], 1).numpy())
            assignment.append(decode(out["assignment"], out["detection"]))
            regression.append(out["regression"].numpy())
            segments.append(out["segmentation"].argmax(-1).numpy())
    probs_all = np.concatenate(probs)
    reg = np.concatenate(regression)
    truth = targets["regression"].numpy()
    names = ("top_pt", "top_mass", "antitop_pt", "antitop_mass", "nu_px", "nu_py", "nu_pz")
    resolution = {}
    for k, name in enumerate(names):
        ok = np.isfinite(truth[:, k])
        if ok.sum() >= 20:
            diff = 100.0 * (reg[ok, k] - truth[ok, k])
            lo, hi = np.quantile(diff, [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2])
            resolution[name] = float(0.5 * (hi - lo))
    seg_pred = np.concatenate(segments)
    seg_true = targets["segmentation"].numpy()
    real = seg_true >= 0
    return {"probabilities": probs_all,
            "assignment": efficiencies(np.concatenate(assignment), events.targets,
                                       events.n_jets, "event-model"),
            "regression_resolution_gev": resolution,
            "segmentation_accuracy": float((seg_pred[real] == seg_true[real]).mean())
            if real.any() else float("nan")}


CARD_VERSION = 1


def save_event_model(model: EventTransformer, directory: Any, card: dict[str, Any]) -> Any:
    """Save weights, config and a model card (task, inputs, data and their manifest
    hashes, sizes, metrics) into ``directory``; returns its path."""
    from pathlib import Path

    from aihep._atomic import (
        ensure_writable_dir,
        save_torch_atomic,
        write_json_atomic,
    )
    from aihep.assign.model import parameter_count

    directory = ensure_writable_dir(Path(directory))
    save_torch_atomic(directory / "model.pt", model.state_dict())
    full = {"card_version": CARD_VERSION, "kind": "aihep.eventmodel",
            "config": model.config.model_dump(mode="json"),
            "parameters": parameter_count(model),
            "inputs": {"jets": "up to J: pt [GeV], eta, phi [rad], mass [GeV], b-tag (0/1)",
                       "lepton": "pt [GeV], eta, phi [rad], PDG id (optional)",
                       "missing_pt": "magnitude [GeV], phi [rad] (optional)",
                       **({"summary": "computed from these objects: "
                           + ", ".join(SUMMARY_FEATURES)} if model.config.summary else {})},
            **card}
    write_json_atomic(directory / "card.json", full)
    return directory


def load_event_model(directory: Any) -> tuple[EventTransformer, dict[str, Any]]:
    """A model saved by :func:`save_event_model` and its card."""
    import json
    from pathlib import Path

    from aihep.errors import InputError

    directory = Path(directory)
    card_file = directory / "card.json"
    if not card_file.is_file() or not (directory / "model.pt").is_file():
        raise InputError(directory, "card.json / model.pt", "an event-model directory")
    card = json.loads(card_file.read_text())
    if card.get("kind") != "aihep.eventmodel" or card.get("card_version") != CARD_VERSION:
        raise InputError(card_file, "kind / card_version",
                         f"aihep.eventmodel, version {CARD_VERSION}")
    # models saved before the assignment head became configurable used the full tensor
    model = EventTransformer(EventModelConfig.model_validate({"attention": "full",
                                                              **card["config"]}))
    state = torch.load(directory / "model.pt", weights_only=True)
    state.setdefault("assign_masses", torch.zeros(2, 5))  # saved before the mass term: none
    model.load_state_dict(state)
    return model.eval(), card
