"""File-level entry points of the event model: train (pretrain or fine-tune) on event files,
evaluate a saved model on a file.

    run = train_files([("semi/events.h5", "ttbar-semileptonic"), ("tth/events.h5", "tth-bb"),
                       ("allhad/events.h5", None)], "runs/pretrained")
    tuned = train_files([("allhad_tune/events.h5", "ttbar")], "runs/tuned",
                        init="runs/pretrained", tasks=("assignment",))
    scores = evaluate_file("runs/tuned", "test/events.h5", "ttbar", "runs/eval")

A part's process is one of :data:`PROCESS_LABELS` or None (unlabelled: used only through
the tasks that need no label, e.g. masked-object reconstruction).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aihep.eventmodel.run import PROCESS_LABELS, TASKS, EventTrainConfig
from aihep.io.assignment import JetEvents

KIND_TRAIN, KIND_EVAL = "aihep.eventmodel.train", "aihep.eventmodel.evaluate"


@dataclass(frozen=True)
class EventModelRun:
    """A trained event model: where it is, its size and its training history."""

    directory: Path
    parameters: int
    best_epoch: int
    best_val_loss: float
    epoch_seconds: list[float]
    train_events_per_second: float
    epoch_cpu_seconds: list[float] = field(default_factory=list)  # of this process

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "parameters": self.parameters,
                "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "epoch_seconds": self.epoch_seconds,
                "train_events_per_second": self.train_events_per_second,
                "epoch_cpu_seconds": self.epoch_cpu_seconds}


@dataclass(frozen=True)
class EventEvaluation:
    """A model's scores on one file of one process."""

    process: str
    n_events: int
    accuracy: float
    mean_probabilities: dict[str, float]
    assignment: list[dict[str, Any]]
    regression_resolution_gev: dict[str, float]
    segmentation_accuracy: float
    events_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return {"process": self.process, "n_events": self.n_events, "accuracy": self.accuracy,
                "mean_probabilities": self.mean_probabilities, "assignment": self.assignment,
                "regression_resolution_gev": self.regression_resolution_gev,
                "segmentation_accuracy": self.segmentation_accuracy,
                "events_per_second": self.events_per_second}


def _savez(path: Path, **arrays: Any) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would append .npz to a name
        np.savez(handle, **arrays)


def read_part(path: str | Path, process: str | None) -> tuple[JetEvents, int | None]:
    """The events of a training part and their class label; an unlabelled part (process
    None) is read without any truth: it trains masked-object reconstruction only, whatever
    targets the file holds."""
    from aihep.io.assignment import read_jet_events

    events = read_jet_events(path)
    if process is None:
        return events.without_truth(), None
    return events, _label(process, str(path))


def _label(process: str | None, where: str) -> int | None:
    from aihep.errors import ConfigError

    if process is None:
        return None
    if process not in PROCESS_LABELS:
        msg = (f"{where}: process '{process}' is not known; expected one of "
               f"{', '.join(PROCESS_LABELS)}, or unlabelled")
        raise ConfigError(msg)
    return PROCESS_LABELS[process]


def _check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    from aihep.errors import ConfigError

    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        msg = f"tasks: '{','.join(unknown)}' not known; expected some of {', '.join(TASKS)}"
        raise ConfigError(msg)
    return tuple(tasks)


def train_files(parts: Sequence[tuple[str | Path, str | None]], out: str | Path,
                config: EventTrainConfig | None = None, init: str | Path | None = None,
                tasks: Sequence[str] = TASKS,
                progress: Callable[[int, int, float], None] | None = None,
                force: bool = False) -> EventModelRun:
    """Train on the event files of ``parts`` (path, process or None: unlabelled events, whose
    truth is not used) into ``out`` and save the model with its card; with ``init`` (a saved
    event model) fine-tune it: the network sizes are the saved model's. An interrupted run
    resumes from its checkpoint."""
    from aihep._atomic import ensure_writable_dir
    from aihep.assign.model import parameter_count
    from aihep.eventmodel.run import load_event_model, save_event_model, train_event_model
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    config = config or EventTrainConfig()
    tasks = _check_tasks(tasks)
    labelled = [read_part(path, process) for path, process in parts]
    start_weights, init_card = None, None
    if init is not None:
        model, init_card = load_event_model(init)
        start_weights = model.state_dict()
        config = config.model_copy(update={"model": model.config})
    claim_output_dir(out, KIND_TRAIN, force, allowed=("train.ckpt",))
    directory = ensure_writable_dir(out)
    model, result = train_event_model(labelled, config, init=start_weights, tasks=tasks,
                                      checkpoint=directory / "train.ckpt", progress=progress)
    n_events = sum(len(events) for events, _ in labelled)
    epochs = len(result.train_loss)
    inputs = [file_entry(path) for path, _ in parts]
    card = {"task": "event-level multi-task model (" + ", ".join(tasks) + ")",
            "tasks": list(tasks),
            "data": [{**entry, "process": process, "events": len(events)}
                     for entry, (_, process), (events, _) in zip(inputs, parts, labelled,
                                                                  strict=True)],
            "init": {"directory": str(init), "data": init_card.get("data")} if init_card
            else None,
            "metrics": {"best_val_loss": float(result.val_loss[result.best_epoch]),
                        "best_epoch": result.best_epoch},
            "training": config.model_dump(mode="json")}
    save_event_model(model, directory, card)
    write_manifest(directory, build_manifest(
        KIND_TRAIN, config={**config.model_dump(mode="json"), "tasks": list(tasks),
                            "init": str(init) if init else None},
        seed=config.train.seed, inputs=inputs,
        outputs=[file_entry(directory / f, directory) for f in ("model.pt", "card.json")],
        counts={"events": n_events, "epochs": epochs}))
    return EventModelRun(directory, parameter_count(model), result.best_epoch,
                         float(result.val_loss[result.best_epoch]),
                         [float(s) for s in result.epoch_seconds],
                         # from the epochs' own times: right also after a resume
                         n_events * (1 - config.val_fraction) * len(result.epoch_seconds)
                         / max(sum(result.epoch_seconds), 1e-9),
                         [float(s) for s in result.epoch_cpu_seconds])


def evaluate_file(run: str | Path, data: str | Path, process: str, out: str | Path,
                  force: bool = False) -> EventEvaluation:
    """Scores of the saved model ``run`` on the events of ``data`` (all of process
    ``process``); writes ``out/evaluation.json`` and the per-event class probabilities
    ``out/probabilities.npz``."""
    from aihep._atomic import ensure_writable_dir, write_atomic, write_json_atomic
    from aihep.eventmodel.run import evaluate_event_model, load_event_model
    from aihep.io.assignment import read_jet_events
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    label = _label(process, "--process")
    assert label is not None
    model, _ = load_event_model(run)
    events = read_jet_events(data)
    claim_output_dir(out, KIND_EVAL, force)
    start = time.perf_counter()
    scores = evaluate_event_model(model, events, label)
    seconds = time.perf_counter() - start
    probs = scores["probabilities"]
    names = list(PROCESS_LABELS)
    result = EventEvaluation(
        process, len(events), float((probs.argmax(1) == label).mean()),
        {name: float(probs[:, k].mean()) for k, name in enumerate(names)},
        scores["assignment"], scores["regression_resolution_gev"],
        scores["segmentation_accuracy"], len(events) / max(seconds, 1e-9))
    directory = ensure_writable_dir(out)
    path = write_json_atomic(directory / "evaluation.json", result.to_dict())
    npz = write_atomic(directory / "probabilities.npz", lambda p: _savez(
        p, probabilities=probs.astype(np.float32), processes=np.array(names)))
    write_manifest(directory, build_manifest(
        KIND_EVAL, config={"run": str(run), "process": process}, seed=0,
        inputs=[file_entry(data), file_entry(Path(run) / "model.pt")],
        outputs=[file_entry(p, directory) for p in (path, npz)],
        counts={"events": len(events)}))
    return result
