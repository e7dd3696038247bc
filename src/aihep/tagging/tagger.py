"""Train, save, load, apply and export a jet tagger; every model goes through these functions.

A run directory holds ``tagger.pt`` (config, classes, feature scaler and weights; or
``tagger.pkl`` for the BDT), ``checkpoint.pt`` (per-epoch, for resume), ``history.json``,
``validation.json`` (metrics on the held-out split) and ``manifest.json``. Networks train with
the shared loop :func:`aihep.nn.train.train` (AdamW, cosine schedule, early stopping).

Three lines::

    from aihep.tagging.tagger import TaggerConfig, train_tagger, load_tagger
    run = train_tagger(jets, "runs/pn", TaggerConfig(model="particlenet-lite"))
    probs = load_tagger("runs/pn").predict_proba(test_jets)     # (n_jets, n_classes)
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aihep import DEFAULT_SEED
from aihep._atomic import ensure_writable_dir, save_torch_atomic, write_atomic, write_json_atomic
from aihep.errors import InputError
from aihep.io.jets import JetSet, check_jets
from aihep.nn.train import ProgressFn, TrainConfig, seeded, train
from aihep.tagging.bdt import BDTConfig, BDTTagger
from aihep.tagging.features import FeatureScaler, FeatureSet, particle_inputs
from aihep.tagging.metrics import TaggerMetrics, tagger_metrics
from aihep.tagging.models import (
    ParTConfig,
    ParticleNetConfig,
    PFNConfig,
    build_model,
    model_config_from_dict,
    preset,
)

AnyModel = Annotated[PFNConfig | ParticleNetConfig | ParTConfig | BDTConfig,
                     Field(discriminator="kind")]


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, weight_decay=0.01,
                       patience=5)


class TaggerConfig(BaseModel):
    """What to train and how. ``model`` is a preset name or a full model config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: AnyModel = Field(default_factory=lambda: preset("particlenet-lite"))
    feature_set: FeatureSet = "kin"
    max_particles: int = Field(128, ge=1, description="particles per jet (highest pT first)")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    train: TrainConfig = Field(default_factory=_default_train)
    inference_batch_size: int = Field(512, ge=1)
    seed: int = DEFAULT_SEED

    @field_validator("model", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            return BDTConfig() if value == "bdt" else preset(value)
        return value


@dataclass(frozen=True)
class TaggerRun:
    """What training produced."""

    directory: Path
    validation: TaggerMetrics
    best_epoch: int
    train_seconds: float
    train_jets_per_second: float
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "best_epoch": self.best_epoch,
                "train_seconds": self.train_seconds,
                "train_jets_per_second": self.train_jets_per_second,
                "validation": self.validation.to_dict()}


class Tagger:
    """A trained tagger: ``predict_proba(jets) -> (n_jets, n_classes)``."""

    def __init__(self, config: TaggerConfig, classes: tuple[str, ...],
                 network: torch.nn.Module | None = None, scaler: FeatureScaler | None = None,
                 bdt: BDTTagger | None = None) -> None:
        self.config, self.classes = config, classes
        self.network, self.scaler, self.bdt = network, scaler, bdt

    def inputs(self, jets: JetSet) -> tuple[torch.Tensor, ...]:
        """The network's (features, points, vectors, mask) for ``jets``."""
        assert self.scaler is not None
        raw = particle_inputs(jets, self.config.feature_set, self.config.max_particles)
        return self.scaler(raw).tensors()

    def predict_proba(self, jets: JetSet) -> np.ndarray:
        """Class probabilities, shape (n_jets, n_classes)."""
        if self.bdt is not None:
            return self.bdt.predict_proba(jets)
        assert self.network is not None
        tensors = self.inputs(jets)
        self.network.eval()
        out = []
        step = self.config.inference_batch_size
        with torch.no_grad():
            for i in range(0, len(jets), step):
                logits = self.network(*(t[i:i + step] for t in tensors))
                out.append(torch.softmax(logits, -1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))


def split_indices(labels: np.ndarray, val_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random (train, validation) indices."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(val_fraction * len(idx)))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _save(tagger: Tagger, directory: Path) -> Path:
    if tagger.bdt is not None:
        return write_atomic(directory / "tagger.pkl", lambda p: p.write_bytes(pickle.dumps(
            {"config": tagger.config.model_dump(mode="json"), "classes": tagger.classes,
             "bdt": tagger.bdt})))
    assert tagger.network is not None and tagger.scaler is not None
    state = {"config": tagger.config.model_dump(mode="json"), "classes": list(tagger.classes),
             "scaler": tagger.scaler.to_dict(), "state_dict": tagger.network.state_dict()}
    return save_torch_atomic(directory / "tagger.pt", state)


def load_tagger(run_dir: str | Path) -> Tagger:
    """Load the tagger of a run directory (``tagger.pt`` or ``tagger.pkl``).

    ``tagger.pkl`` is a pickle: load only run directories you trust (your own).
    """
    run_dir = Path(run_dir)
    if (run_dir / "tagger.pkl").is_file():
        state = pickle.loads((run_dir / "tagger.pkl").read_bytes())
        config = TaggerConfig.model_validate(state["config"])
        return Tagger(config, tuple(state["classes"]), bdt=state["bdt"])
    path = run_dir / "tagger.pt"
    if not path.is_file():
        raise InputError(run_dir, "tagger.pt", "a tagger run directory (aihep tag train)")
    state = torch.load(path, weights_only=True)  # tensors and plain data only, no code
    config = TaggerConfig.model_validate(state["config"])
    scaler = FeatureScaler.from_dict(state["scaler"])
    network = build_model(model_config_from_dict(config.model.model_dump()),
                          len(scaler.names), len(state["classes"]))
    network.load_state_dict(state["state_dict"])
    return Tagger(config, tuple(state["classes"]), network.eval(), scaler)


def train_tagger(jets: JetSet, out: str | Path, config: TaggerConfig | None = None,
                 progress: ProgressFn | None = None, inputs: list[Path] | None = None,
                 force: bool = False) -> TaggerRun:
    """Train a tagger on ``jets`` (a stratified ``val_fraction`` is held out) into ``out``.

    A run interrupted after some epochs resumes from ``out/checkpoint.pt`` when called again
    with the same arguments. A directory holding another command's results is refused unless
    ``force``.
    """
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    config = config or TaggerConfig()
    check_jets(jets)
    claim_output_dir(out, "aihep.tag.train", force, strict=False)
    directory = ensure_writable_dir(out)
    tr, val = split_indices(jets.labels, config.val_fraction, config.seed)
    train_jets, val_jets = jets.take(tr), jets.take(val)
    start = time.perf_counter()
    history: dict[str, list[float]] = {}
    if isinstance(config.model, BDTConfig):
        bdt = BDTTagger(config.model, len(jets.classes), config.seed).fit(train_jets)
        tagger, best_epoch = Tagger(config, jets.classes, bdt=bdt), 0
        seconds = time.perf_counter() - start
    else:
        raw = particle_inputs(train_jets, config.feature_set, config.max_particles)
        scaler = FeatureScaler.fit(raw)
        with seeded(config.seed):
            network = build_model(config.model, len(raw.names), len(jets.classes))
            tagger = Tagger(config, jets.classes, network, scaler)
            train_data = (*scaler(raw).tensors(), torch.from_numpy(train_jets.labels))
            val_data = (*tagger.inputs(val_jets), torch.from_numpy(val_jets.labels))

            def loss(module: torch.nn.Module, batch: Any) -> torch.Tensor:
                return torch.nn.functional.cross_entropy(module(*batch[:4]), batch[4])

            train_config = config.train.model_copy(update={"seed": config.seed})
            result = train(network, loss, train_data, val_data, train_config,
                           checkpoint=directory / "checkpoint.pt", progress=progress)
        seconds = time.perf_counter() - start
        history = {"train_loss": result.train_loss, "val_loss": result.val_loss,
                   "epoch_seconds": result.epoch_seconds}
        best_epoch = result.best_epoch
    _save(tagger, directory)
    validation = tagger_metrics(tagger.predict_proba(val_jets), val_jets.labels, jets.classes)
    # training speed from the epochs' own wall times (valid after a resume too)
    epoch_seconds = history.get("epoch_seconds") or [seconds]
    jets_per_second = len(tr) / max(float(np.mean(epoch_seconds)), 1e-9)
    run = TaggerRun(directory, validation, best_epoch, seconds, jets_per_second, history)
    write_json_atomic(directory / "history.json", history)
    write_json_atomic(directory / "validation.json", run.to_dict())
    saved = "tagger.pkl" if tagger.bdt is not None else "tagger.pt"
    manifest = build_manifest(
        "aihep.tag.train", config=config.model_dump(mode="json"), seed=config.seed,
        inputs=[file_entry(p) for p in inputs or []],
        outputs=[file_entry(directory / n, directory) for n in (saved, "history.json",
                                                                "validation.json")],
        counts={"n_train": len(tr), "n_validation": len(val)},
        extra={"classes": list(jets.classes)})
    write_manifest(directory, manifest)
    return run


def export_onnx(run_dir: str | Path, path: str | Path, max_particles: int | None = None) -> Path:
    """Export a trained network to ONNX (inputs features, points, vectors, mask; dynamic batch).

    Needs the ``onnx`` and ``onnxscript`` packages (``pip install aihep[onnx]``).
    """
    tagger = load_tagger(run_dir)
    network = tagger.network
    if network is None or tagger.scaler is None:
        raise InputError(run_dir, "model", "a network (a BDT has no ONNX export here)")
    p = max_particles or tagger.config.max_particles
    f = len(tagger.scaler.names)
    example = (torch.zeros(2, p, f), torch.zeros(2, p, 2), torch.ones(2, p, 4),
               torch.ones(2, p, dtype=torch.bool))
    batch = torch.export.Dim("batch", min=1)
    dynamic = {name: {0: batch} for name in ("features", "points", "vectors", "mask")}

    def write(tmp: Path) -> None:
        torch.onnx.export(network, example, str(tmp), dynamo=True,
                          input_names=["features", "points", "vectors", "mask"],
                          output_names=["logits"], dynamic_shapes=dynamic)

    return write_atomic(Path(path), write)


def evaluate_tagger(run_dir: str | Path, jets: JetSet, out: str | Path | None = None,
                    reporter: Callable[..., Any] | None = None) -> TaggerMetrics:
    """Metrics of a trained tagger on labelled ``jets``; with ``out``, also writes
    ``evaluation.json`` there and, with a ``reporter`` (e.g.
    :func:`aihep.report.tagging.write_tagger_report`), ``evaluation.html`` (rejection
    curves, confusion matrix)."""
    tagger = load_tagger(run_dir)
    if tuple(jets.classes) != tagger.classes:
        raise InputError(jets.source, "classes", f"the tagger's classes "
                         f"{', '.join(tagger.classes)} (got {', '.join(jets.classes)})")
    start = time.perf_counter()
    probs = tagger.predict_proba(jets)
    seconds = time.perf_counter() - start
    metrics = tagger_metrics(probs, jets.labels, tagger.classes)
    if out is not None:
        directory = ensure_writable_dir(out)
        write_json_atomic(directory / "evaluation.json", {
            **metrics.to_dict(), "data": jets.source, "run": str(run_dir),
            "inference_jets_per_second": len(jets) / max(seconds, 1e-9)})
        if reporter is not None:
            reporter(directory / "evaluation.html", metrics, probs, jets.labels,
                     f"aihep tagger {Path(run_dir).name} on {Path(jets.source).name}")
    return metrics


def predict_jets(run_dir: str | Path, jets: JetSet) -> JetSet:
    """``jets`` with one field ``score_<class>`` per class (the tagger's probabilities)."""
    import awkward as ak

    tagger = load_tagger(run_dir)
    probs = tagger.predict_proba(jets)
    table = jets.table
    for i, name in enumerate(tagger.classes):
        table = ak.with_field(table, np.ascontiguousarray(probs[:, i]), f"score_{name}")
    return JetSet(table, jets.classes, jets.source)


def train_from_file(data: Path, out: Path, config: TaggerConfig = TaggerConfig(),  # noqa: B008
                    max_jets: int | None = None, progress: ProgressFn | None = None,
                    force: bool = False) -> TaggerRun:
    """Train a tagger (``config.model``: a preset name, ``bdt`` or a model config; training
    settings in ``config.train``) on a jet file into the run directory ``out``.

    ``data`` is .parquet (aihep), .root (JetClass) or .h5 (Top Tagging); at most
    ``max_jets`` are read.
    """
    from aihep.io.jetfiles import read_jets

    return train_tagger(read_jets(data, max_jets), out, config, progress, inputs=[Path(data)],
                        force=force)


def evaluate_file(run: Path, data: Path, out: Path, max_jets: int | None = None,
                  reporter: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Evaluate a trained tagger on a labelled jet file; evaluation.json (and .html with a
    ``reporter``) go to ``out``. Returns accuracy, AUCs, background rejections and jet-origin
    rates."""
    from aihep.io.jetfiles import read_jets

    metrics = evaluate_tagger(run, read_jets(data, max_jets), out, reporter)
    summary = metrics.to_dict()
    summary.pop("confusion")
    return summary


def predict_file(run: Path, data: Path, out: Path, max_jets: int | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Score a jet file with a trained tagger and write it, with ``score_<class>`` fields,
    as Parquet to ``out`` (a new file; an existing one only with ``force``)."""
    from aihep.errors import OutputError
    from aihep.io.jetfiles import read_jets
    from aihep.io.jets import save_jets

    out = Path(out)
    if out.is_dir():
        msg = f"{out}: is a directory; --out takes the path of the .parquet file to write"
        raise OutputError(msg)
    if out.exists() and not force:
        msg = f"{out}: exists; choose another --out or pass --force to replace it"
        raise OutputError(msg)
    jets = predict_jets(run, read_jets(data, max_jets))
    save_jets(jets, out)
    return {"out": str(out), "n_jets": len(jets),
            "fields": [f"score_{c}" for c in jets.classes]}
