"""File-level entry points: train the assignment network, evaluate a method on a file.

    run = train_file("ttbar/events.h5", "runs/spanet", AssignTrainConfig())
    rows = evaluate_file("test.h5", "runs/eval", method="aihep-spanet", run="runs/spanet")
    rows = evaluate_file("test.h5", "runs/chi2", method="chi2", train_data="ttbar/events.h5")
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.assign.model import AssignmentModelConfig
from aihep.nn.train import TrainConfig

Method = Literal["aihep-spanet", "chi2"]
METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
KIND_TRAIN, KIND_EVAL, KIND_PREDICT = ("aihep.assign.train", "aihep.assign.evaluate",
                                      "aihep.assign.predict")


class AssignTrainConfig(BaseModel):
    """Network sizes, optimization and the validation split."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: AssignmentModelConfig = Field(default_factory=AssignmentModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=256, learning_rate=1e-3, patience=5))
    val_fraction: float = Field(0.1, gt=0, lt=1)


@dataclass(frozen=True)
class AssignTrainResult:
    """A trained network: where, its size, its training history."""

    run: Path
    parameters: int
    best_epoch: int
    val_loss: float
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_cpu_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": str(self.run), "parameters": self.parameters,
                "best_epoch": self.best_epoch, "val_loss": self.val_loss,
                "epoch_seconds": self.epoch_seconds,
                "epoch_cpu_seconds": self.epoch_cpu_seconds}


def load_network(run: str | Path):
    """The network saved by :func:`train_file`."""
    import torch

    from aihep.assign.model import AssignmentNet
    from aihep.errors import InputError

    run = Path(run)
    if not (run / "model.pt").is_file():
        raise InputError(run, "model.pt", "a run directory of aihep assign train")
    saved = json.loads((run / "config.json").read_text())
    # networks saved before the kinematic features existed were plain
    saved.setdefault("model", {}).setdefault("kinematic_features", False)
    config = AssignTrainConfig.model_validate(saved)
    net = AssignmentNet(config.model)
    net.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    return net.eval()


def train_file(data: str | Path, out: str | Path, config: AssignTrainConfig | None = None,
               progress: Callable[[int, int, float], None] | None = None,
               force: bool = False) -> AssignTrainResult:
    """Train the network on the events of ``data`` (aihep or SPANet layout) into ``out``;
    an interrupted run resumes from its checkpoint."""
    import torch

    from aihep._atomic import (
        ensure_writable_dir,
        save_torch_atomic,
        write_text_atomic,
    )
    from aihep.assign.model import (
        AssignmentNet,
        assignment_loss,
        parameter_count,
        training_tensors,
    )
    from aihep.io.assignment import read_jet_events
    from aihep.nn.train import seeded, train
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    config = config or AssignTrainConfig()
    events = read_jet_events(data)
    claim_output_dir(out, KIND_TRAIN, force, allowed=("train.ckpt",))
    directory = ensure_writable_dir(out)
    order = np.random.default_rng(config.train.seed).permutation(len(events))
    n_val = max(1, round(config.val_fraction * len(events)))
    tensors = training_tensors(events)
    train_part = [t[torch.from_numpy(order[n_val:])] for t in tensors]
    val_part = [t[torch.from_numpy(order[:n_val])] for t in tensors]
    with seeded(config.model.seed):
        net = AssignmentNet(config.model)
    def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        return assignment_loss(module, tuple(batch))

    result = train(net, loss, train_part, val_part, config.train,
                   checkpoint=directory / "train.ckpt", progress=progress,
                   resume_key=config.model_dump_json())
    save_torch_atomic(directory / "model.pt", net.state_dict())
    write_text_atomic(directory / "config.json", config.model_dump_json(indent=1))
    history = {"train_loss": result.train_loss, "val_loss": result.val_loss,
               "best_epoch": result.best_epoch, "epoch_seconds": result.epoch_seconds,
               "parameters": parameter_count(net)}
    write_text_atomic(directory / "history.json", json.dumps(history, indent=1))
    write_manifest(directory, build_manifest(
        KIND_TRAIN, config=config.model_dump(mode="json"), seed=config.train.seed,
        inputs=[file_entry(data)], outputs=[file_entry(directory / f, directory) for f in (
            "model.pt", "config.json", "history.json")],
        counts={"events": len(events), "validation": n_val}))
    return AssignTrainResult(directory, parameter_count(net), result.best_epoch,
                             float(result.val_loss[result.best_epoch]),
                             list(result.epoch_seconds), list(result.epoch_cpu_seconds))


@dataclass(frozen=True)
class AssignEvaluation:
    """Efficiency rows and the inference speed of one method on one file."""

    method: str
    rows: list[dict[str, Any]]
    events_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "rows": self.rows,
                "events_per_second": self.events_per_second, **self.extra}


def assign_events(events: Any, method: Method, run: str | Path | None = None,
                  train_events: Any = None
                  ) -> tuple[np.ndarray, np.ndarray | None, float, dict[str, Any]]:
    """Assign ``events`` with ``method``: ((N, 6) jet per parton, (N, 2) detection
    probabilities of the network or None, seconds taken, method details). One core for chi2,
    the process's torch threads for the network."""
    from aihep.errors import ConfigError

    extra: dict[str, Any] = {}
    detection = None
    if method == "chi2":
        from aihep.assign.chi2 import chi2_assign, fit_masses

        if train_events is None:
            msg = "chi2 needs training events to fit the masses (--train-data)"
            raise ConfigError(msg)
        masses = fit_masses(train_events)
        chi2_assign(events.select(np.arange(min(5, len(events)))), masses)  # compile first
        start = time.perf_counter()
        predictions, _ = chi2_assign(events, masses)
        extra["masses"] = masses.to_dict()
    else:
        from aihep.assign.model import parameter_count, predict

        if run is None:
            msg = "aihep-spanet needs a trained run (--run)"
            raise ConfigError(msg)
        net = load_network(run)
        extra["parameters"] = parameter_count(net)
        start = time.perf_counter()
        predictions, detection = predict(net, events)
    return predictions, detection, time.perf_counter() - start, extra


def evaluate_events(events: Any, method: Method, run: str | Path | None = None,
                    train_events: Any = None, seed: int | None = None) -> AssignEvaluation:
    """Assign ``events`` with ``method`` and measure its efficiencies and speed."""
    from aihep.assign.metrics import efficiencies

    predictions, _, seconds, extra = assign_events(events, method, run, train_events)
    rows = efficiencies(predictions, events.targets, events.n_jets, method, seed)
    return AssignEvaluation(method, rows, len(events) / max(seconds, 1e-9), extra)


def evaluate_file(data: str | Path, out: str | Path, method: Method = "aihep-spanet",
                  run: str | Path | None = None, train_data: str | Path | None = None,
                  force: bool = False, reporter: Callable[..., Path] | None = None
                  ) -> AssignEvaluation:
    """Evaluate ``method`` on the events of ``data`` (with truth targets); writes
    ``out/evaluation.json`` (and, with ``reporter``, an HTML report: efficiencies by jet
    multiplicity, reconstructed top and W masses of right and wrong tops)."""
    from aihep.assign.metrics import efficiencies, predicted_top_correct, reconstructed_tops
    from aihep.io.assignment import read_jet_events

    events = read_jet_events(data)
    train_events = read_jet_events(train_data) if train_data is not None else None
    _claim(out, KIND_EVAL, force)
    predictions, _, seconds, extra = assign_events(events, method, run, train_events)
    rows = efficiencies(predictions, events.targets, events.n_jets, method)
    result = AssignEvaluation(method, rows, len(events) / max(seconds, 1e-9), extra)

    def report(directory: Path) -> Path:
        tops = reconstructed_tops(events, predictions)
        tops["correct"] = predicted_top_correct(predictions, events.targets)
        return reporter(directory / "report.html", result.to_dict(), tops)  # type: ignore[misc]

    _write_outputs(out, KIND_EVAL, "evaluation.json", result.to_dict(), None,
                   report if reporter else None, method, run, data, train_data, len(events))
    return result


@dataclass(frozen=True)
class AssignPrediction:
    """Assignments written for the events of one file, and what they look like."""

    method: str
    predictions_file: Path
    events: int
    both_tops_assigned: float
    median_top_mass_gev: float
    median_w_mass_gev: float
    events_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "predictions_file": str(self.predictions_file),
                "events": self.events, "both_tops_assigned": self.both_tops_assigned,
                "median_top_mass_gev": self.median_top_mass_gev,
                "median_w_mass_gev": self.median_w_mass_gev,
                "events_per_second": self.events_per_second, **self.extra}


def predict_file(data: str | Path, out: str | Path, method: Method = "aihep-spanet",
                 run: str | Path | None = None, train_data: str | Path | None = None,
                 force: bool = False, reporter: Callable[..., Path] | None = None
                 ) -> AssignPrediction:
    """Assign the jets of every event of ``data`` (no truth needed: data, or simulated events
    of any process); writes ``out/assignments.h5`` (SPANet's layout, see
    :func:`aihep.io.assignment.write_assignments`), ``out/prediction.json`` and, with
    ``reporter``, an HTML report of the reconstructed top and W masses."""
    from aihep.assign.metrics import reconstructed_tops
    from aihep.io.assignment import read_jet_events, write_assignments

    events = read_jet_events(data, require_targets=False)
    train_events = read_jet_events(train_data) if train_data is not None else None
    _claim(out, KIND_PREDICT, force)
    predictions, detection, seconds, extra = assign_events(events, method, run, train_events)
    tops = reconstructed_tops(events, predictions)
    both = np.isfinite(tops["top_mass"]).all(1)

    def median(values: np.ndarray) -> float:
        finite = values[np.isfinite(values)]
        return float(np.median(finite)) if len(finite) else float("nan")

    directory = Path(out)
    result = AssignPrediction(method, directory / "assignments.h5", len(events),
                              float(both.mean()) if len(events) else float("nan"),
                              median(tops["top_mass"]), median(tops["w_mass"]),
                              len(events) / max(seconds, 1e-9), extra)
    _write_outputs(out, KIND_PREDICT, "prediction.json", result.to_dict(),
                   lambda d: write_assignments(d / "assignments.h5", events, predictions,
                                               tops, detection),
                   (lambda d: reporter(d / "report.html", result.to_dict(), tops))
                   if reporter else None, method, run, data, train_data, len(events))
    return result


def _claim(out: str | Path, kind: str, force: bool) -> None:
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(out, kind, force)


def _write_outputs(out: str | Path, kind: str, name: str, summary: dict[str, Any],
                   writer: Callable[[Path], Path] | None,
                   reporter: Callable[[Path], Path] | None, method: str,
                   run: str | Path | None, data: str | Path, train_data: str | Path | None,
                   n_events: int) -> None:
    """The summary JSON, the data file and the report (each atomic), then the manifest."""
    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory = ensure_writable_dir(out)
    outputs = [write_json_atomic(directory / name, summary)]
    if writer is not None:
        outputs.append(writer(directory))
    if reporter is not None:
        outputs.append(reporter(directory))
    inputs = [file_entry(p) for p in (data, train_data) if p is not None]
    if run is not None:
        inputs += [file_entry(Path(run) / f) for f in ("model.pt", "config.json")
                   if (Path(run) / f).is_file()]
    write_manifest(directory, build_manifest(
        kind, config={"method": method, "run": str(run) if run else None}, seed=0,
        inputs=inputs, outputs=[file_entry(p, directory) for p in outputs],
        counts={"events": n_events}))
