"""File-level PID: track files (Parquet), training a method, evaluating it.

    simulate_file(PIDSimConfig(domain="simulation", n_events=20_000), "sim")
    simulate_file(PIDSimConfig(domain="data", shift=1.0, seed=2), "data")
    run = train_file("sim/tracks.parquet", "runs/dann", "transformer+dann",
                     data="data/tracks.parquet")
    result = evaluate_file("runs/dann", "data/tracks.parquet", "runs/eval")

A track file has one row per track: ``p_gev``, ``eta`` and the detector signals ``its``,
``tpc`` (dE/dx, a.u.), ``tof`` (beta), ``trd`` (electron likelihood), NaN where a detector
has no signal; optionally ``species`` (e, pi, K, p as 0-3; -1 or absent: unknown, as in
data) and, for the V0 sample, ``px_gev``, ``py_gev``, ``pz_gev``, ``charge``, ``event``,
``vertex_r_mm``. Labels of a "data" file are never used for training (only to score).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.pid.data import Tracks
from aihep.pid.detectors import SPECIES, DetectorConfig, TrackSignals
from aihep.pid.methods import TransformerTrainConfig

Method = Literal["nsigma", "bayes", "hgb", "mlp-imputed", "transformer", "transformer+dann",
                 "transformer+v0-finetune"]
METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
NEEDS_DATA = ("transformer+dann", "transformer+v0-finetune")
KIND_SIM, KIND_TRAIN, KIND_EVAL = "aihep.pid.simulate", "aihep.pid.train", "aihep.pid.evaluate"
REQUIRED = ("p_gev", "eta", "its", "tpc", "tof", "trd")
V0_COLUMNS = ("px_gev", "py_gev", "pz_gev", "charge", "event", "vertex_r_mm")


class PIDSimConfig(BaseModel):
    """A track file to generate: the domain ("data" shifted by ``shift`` x the default
    shift of :func:`aihep.pid.data.shifted_data_domain`), events and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    domain: Literal["simulation", "data"] = "simulation"
    shift: float = Field(1.0, ge=0, le=5, description="data only: x the default shift")
    n_events: int = Field(20_000, ge=1, description="minimum-bias pp events")
    seed: int = DEFAULT_SEED


class PIDTrainConfig(BaseModel):
    """The transformer's training (all transformer methods), DANN's lambda and the V0
    fine-tuning's epochs and learning rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    transformer: TransformerTrainConfig = Field(default_factory=TransformerTrainConfig)
    dann_lambda_max: float = Field(1.0, gt=0)
    finetune_epochs: int = Field(5, ge=1)
    finetune_learning_rate: float = Field(3e-4, gt=0)
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class TrackFile:
    path: Path
    n_tracks: int
    n_events: int
    species_fractions: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "tracks": self.n_tracks, "events": self.n_events,
                "species_fractions": self.species_fractions}


@dataclass(frozen=True)
class PIDRun:
    directory: Path
    method: str
    train_tracks: int
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "method": self.method,
                "train_tracks": self.train_tracks, **self.extra}


@dataclass(frozen=True)
class PIDEvaluation:
    method: str
    n_tracks: int
    performance: dict[str, Any] | None  # None: the file has no labels

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "tracks": self.n_tracks,
                "performance": self.performance}


def write_tracks(path: str | Path, tracks: Tracks) -> Path:
    """Write ``tracks`` as a Parquet track file (atomically)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aihep._atomic import write_atomic

    s = tracks.signals
    columns: dict[str, Any] = {"p_gev": tracks.p_gev, "pt_gev": tracks.pt_gev,
                               "eta": tracks.eta, "its": s.its, "tpc": s.tpc, "tof": s.tof,
                               "trd": s.trd, "species": tracks.species}
    if tracks.momentum is not None:
        columns.update(px_gev=tracks.momentum[:, 0], py_gev=tracks.momentum[:, 1],
                       pz_gev=tracks.momentum[:, 2])
    for name in ("charge", "event", "vertex_r_mm", "mother_pid"):
        if getattr(tracks, name) is not None:
            columns[name] = getattr(tracks, name)
    table = pa.table({k: np.asarray(v) for k, v in columns.items()})
    return write_atomic(path, lambda p: pq.write_table(table, p, compression="zstd"))


def read_tracks(path: str | Path, labels: bool = False) -> Tracks:
    """Read a track file; with ``labels`` every track must have a species. Bad input raises
    :class:`~aihep.errors.InputError` naming the file and column."""
    import pyarrow.parquet as pq

    from aihep.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing Parquet track file")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise InputError(path, "file", f"a Parquet track file ({type(exc).__name__})") from None
    names = set(table.column_names)
    for column in REQUIRED:
        if column not in names:
            raise InputError(path, column, "a numeric column (NaN where the detector has no "
                             "signal); required: " + ", ".join(REQUIRED))

    def col(name: str, kind: type = float) -> np.ndarray:
        try:
            return table.column(name).to_numpy(zero_copy_only=False).astype(kind)
        except (TypeError, ValueError):
            raise InputError(path, name, f"numbers ({kind.__name__})") from None

    p = col("p_gev")
    if len(p) == 0:
        raise InputError(path, "rows", "at least one track")
    if not (np.isfinite(p).all() and (p > 0).all()):
        raise InputError(path, "p_gev", "finite momenta > 0 [GeV/c]")
    eta = col("eta")
    if not np.isfinite(eta).all():
        raise InputError(path, "eta", "finite pseudorapidities")
    signals = {}
    for name in ("its", "tpc", "tof", "trd"):
        values = col(name)
        if np.isinf(values).any():
            raise InputError(path, name, "finite signals or NaN (absent), not infinity")
        signals[name] = values
    if np.isnan(signals["tpc"]).any():  # every track has TPC (methods assume it)
        missing = int(np.isnan(signals["tpc"]).sum())
        raise InputError(path, "tpc", f"a TPC signal on every track ({missing} are NaN)")
    species = np.full(len(p), -1, np.int64)
    if "species" in names:
        raw = table.column("species").to_numpy(zero_copy_only=False)
        if raw.dtype.kind in "OUS":
            lookup = {s: k for k, s in enumerate(SPECIES)}
            if not set(raw.tolist()) <= {*SPECIES, None, ""}:
                raise InputError(path, "species", f"one of {', '.join(SPECIES)} per track")
            species = np.array([lookup.get(v, -1) for v in raw.tolist()], np.int64)
        else:
            species = np.nan_to_num(raw.astype(float), nan=-1).astype(np.int64)
            if not np.isin(species, [-1, *range(len(SPECIES))]).all():
                raise InputError(path, "species", "0-3 (e, pi, K, p) or -1 (unknown)")
    if labels and (species < 0).any():
        raise InputError(path, "species", "a species for every track (training labels)")
    pt = col("pt_gev") if "pt_gev" in names else p / np.cosh(eta)
    momentum = (np.column_stack([col(c) for c in ("px_gev", "py_gev", "pz_gev")])
                if {"px_gev", "py_gev", "pz_gev"} <= names else None)
    optional = {name: col(name, kind) if name in names else None for name, kind in (
        ("charge", float), ("event", np.int64), ("mother_pid", np.int64),
        ("vertex_r_mm", float))}
    return Tracks(p, pt, eta, species, TrackSignals(p, **signals), momentum,
                  optional["charge"], optional["event"], optional["mother_pid"],
                  optional["vertex_r_mm"])


def simulate_file(config: PIDSimConfig, out: str | Path, force: bool = False) -> TrackFile:
    """Generate a track file (``out/tracks.parquet``) with its manifest."""
    from aihep._atomic import ensure_writable_dir
    from aihep.pid.data import DomainConfig, generate_tracks, shifted_data_domain
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    claim_output_dir(out, KIND_SIM, force)
    domain = DomainConfig() if config.domain == "simulation" else shifted_data_domain(
        config.shift)
    tracks = generate_tracks(domain, config.n_events, config.seed)
    directory = ensure_writable_dir(out)
    path = write_tracks(directory / "tracks.parquet", tracks)
    fractions = np.bincount(tracks.species, minlength=len(SPECIES)) / max(len(tracks), 1)
    write_manifest(directory, build_manifest(
        KIND_SIM, config={**config.model_dump(mode="json"),
                          "resolved_domain": domain.model_dump(mode="json")},
        seed=config.seed, outputs=[file_entry(path, directory)],
        counts={"tracks": len(tracks), "events": config.n_events}))
    return TrackFile(path, len(tracks), config.n_events,
                     {s: float(f) for s, f in zip(SPECIES, fractions, strict=True)})


def _transformer_config(config: PIDTrainConfig, **update: Any) -> TransformerTrainConfig:
    t = config.transformer
    train = t.train.model_copy(update={"seed": config.seed, **{
        k: v for k, v in update.items() if k in ("epochs", "learning_rate")}})
    return t.model_copy(update={"train": train, **{
        k: v for k, v in update.items() if k == "dann_lambda_max"}})


def train_file(simulation: str | Path, out: str | Path, method: Method = "transformer",
               config: PIDTrainConfig | None = None, data: str | Path | None = None,
               force: bool = False) -> PIDRun:
    """Train ``method`` on the labelled simulation file; ``data`` (unlabelled use only) is
    needed by DANN and the V0 fine-tuning, and recalibrates the n-sigma / Bayesian TPC
    gain on its V0 sample when given."""

    from aihep._atomic import (
        ensure_writable_dir,
        save_torch_atomic,
        write_atomic,
    )
    from aihep.errors import ConfigError, InputError
    from aihep.pid import methods as m
    from aihep.pid.data import v0_sample
    from aihep.workflow.manifest import (
        claim_output_dir,
        file_entry,
    )

    config = config or PIDTrainConfig()
    if method not in METHODS:
        msg = f"method {method}: expected one of {', '.join(METHODS)}"
        raise ConfigError(msg)
    if method in NEEDS_DATA and data is None:
        msg = f"method {method} needs --data (an unlabelled data track file)"
        raise ConfigError(msg)
    sim = read_tracks(simulation, labels=True)
    target = read_tracks(data) if data is not None else None
    v0 = None
    if target is not None and (method in ("nsigma", "bayes", "transformer+dann",
                                          "transformer+v0-finetune")):
        missing = [c for c, v in (("px_gev/py_gev/pz_gev", target.momentum),
                                  ("charge", target.charge), ("event", target.event))
                   if v is None]
        if missing and method != "transformer+dann":  # DANN: calibration only if it can
            raise InputError(str(data), missing[0], "the V0 columns (momentum components, charge, "
                             "event) to tag K0S and Lambda decays")
        v0 = None if missing else v0_sample(target, seed=config.seed)
    claim_output_dir(out, KIND_TRAIN, force)
    directory = ensure_writable_dir(out)
    detector = DetectorConfig()
    state: dict[str, Any] = {"method": method, "config": config.model_dump(mode="json")}
    extra: dict[str, Any] = {}
    if v0 is not None:
        extra["v0"] = {"tracks": len(v0.index), "candidates": v0.candidates}
    if target is not None and v0 is not None and method in ("nsigma", "bayes",
                                                            "transformer+dann"):
        detector = m.calibrate_on_v0(target, v0.index, v0.species, detector)
        extra["tpc_gain"] = detector.tpc_gain
        extra["tof_offset_ps"] = detector.tof_offset_ps
    if method in ("nsigma", "bayes"):
        state["detector"] = detector.model_dump(mode="json")
        state["priors"] = (np.bincount(sim.species, minlength=len(SPECIES))
                           / len(sim)).tolist()
    elif method in ("hgb", "mlp-imputed"):
        model = m.fit_hgb(sim, config.seed) if method == "hgb" else m.fit_mlp(sim, config.seed)
        write_atomic(directory / "model.pkl", lambda p: p.write_bytes(pickle.dumps(model)))
    else:
        if method == "transformer+dann":
            assert target is not None
            weights, fractions = m.class_mixture_weights(sim, target, detector)
            extra["data_fractions_estimated"] = dict(zip(SPECIES, fractions.tolist(),
                                                         strict=True))
            state["class_weights"] = weights.tolist()
            net = m.fit_transformer(sim, _transformer_config(
                config, dann_lambda_max=config.dann_lambda_max), data=target,
                class_weights=weights)
        else:
            net = m.fit_transformer(sim, _transformer_config(config))
        if method == "transformer+v0-finetune":
            assert v0 is not None and target is not None
            if len(v0.index) < 50:
                msg = (f"{data}: only {len(v0.index)} V0-tagged tracks; expected >= 50 to "
                       "fine-tune on")
                raise ConfigError(msg)
            net = m.fit_transformer(target.select(v0.index), _transformer_config(
                config, epochs=config.finetune_epochs,
                learning_rate=config.finetune_learning_rate), init=net, labels=v0.species)
        state["model"] = net.config.model_dump(mode="json")
        save_torch_atomic(directory / "model.pt", net.state_dict())
    write_run(directory, state, [file_entry(p) for p in (simulation, data) if p is not None],
              config.seed, len(sim))
    return PIDRun(directory, method, len(sim), extra)


def write_run(directory: Path, state: dict[str, Any], inputs: list[dict[str, Any]],
              seed: int, train_tracks: int) -> Path:
    """``pid.json`` and the manifest of a run directory whose model file is written (so
    that :func:`predict` and the expert registry can use it)."""
    from aihep._atomic import write_json_atomic
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    write_json_atomic(directory / "pid.json", state)
    outputs = [file_entry(directory / f, directory) for f in ("pid.json", "model.pkl",
                                                              "model.pt")
               if (directory / f).is_file()]
    return write_manifest(directory, build_manifest(
        KIND_TRAIN, config=state, seed=seed, inputs=inputs, outputs=outputs,
        counts={"train_tracks": train_tracks}))


def predict(run: str | Path, tracks: Tracks) -> tuple[str, np.ndarray]:
    """The method of a trained run and its class probabilities (n, 4) for ``tracks``."""
    import torch

    from aihep.errors import InputError
    from aihep.pid import methods as m
    from aihep.pid.model import PIDModelConfig, PIDTransformer

    run = Path(run)
    if not (run / "pid.json").is_file():
        raise InputError(run, "pid.json", "a PID run directory (aihep pid train)")
    state = json.loads((run / "pid.json").read_text())
    method = state.get("method")
    if method in ("nsigma", "bayes"):
        detector = DetectorConfig.model_validate(state["detector"])
        if method == "nsigma":
            return method, m.nsigma_probabilities(tracks, detector)
        return method, m.bayes_probabilities(tracks, detector, np.array(state["priors"]))
    if method == "hgb":
        model = pickle.loads((run / "model.pkl").read_bytes())
        return method, model.predict_proba(m.features(tracks))
    if method == "mlp-imputed":
        model, means = pickle.loads((run / "model.pkl").read_bytes())
        return method, model.predict_proba(m.imputed(m.features(tracks), means))
    if method in METHODS:
        config = PIDModelConfig.model_validate(state["model"])
        net = PIDTransformer(config)
        net.load_state_dict(torch.load(run / "model.pt", weights_only=True))
        return method, m.transformer_probabilities(net, tracks)
    raise InputError(run / "pid.json", "method", f"one of {', '.join(METHODS)}")


def evaluate_file(run: str | Path, tracks_file: str | Path, out: str | Path,
                  force: bool = False,
                  reporter: Callable[..., Path] | None = None) -> PIDEvaluation:
    """Class probabilities of a trained run on a track file (``out/probabilities.npz``) and,
    when the file has labels, F1, confusion matrices and efficiency/purity vs momentum per
    TOF availability, and F1 per set of present detectors (``out/evaluation.json``; with a
    ``reporter``, an HTML report)."""
    from aihep._atomic import ensure_writable_dir, write_atomic, write_json_atomic
    from aihep.pid.metrics import pid_performance
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    tracks = read_tracks(tracks_file)
    claim_output_dir(out, KIND_EVAL, force)
    method, probabilities = predict(run, tracks)
    labelled = bool((tracks.species >= 0).all())
    present = {name.upper(): np.isfinite(getattr(tracks.signals, name))
               for name in ("its", "tpc", "tof", "trd")}
    performance = (pid_performance(probabilities, tracks.species, tracks.p_gev,
                                   np.isfinite(tracks.signals.tof), present)
                   if labelled else None)
    result = PIDEvaluation(method, len(tracks), performance)
    directory = ensure_writable_dir(out)

    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, probabilities=probabilities.astype(np.float32),
                     species=np.array(SPECIES))

    outputs = [write_atomic(directory / "probabilities.npz", save),
               write_json_atomic(directory / "evaluation.json", result.to_dict())]
    if reporter is not None and performance is not None:
        outputs.append(reporter(directory / "report.html", result.to_dict(),
                                title=f"PID: {method} on {Path(tracks_file).name}"))
    write_manifest(directory, build_manifest(
        KIND_EVAL, config={"run": str(run), "method": method}, seed=0,
        inputs=[file_entry(tracks_file), *[file_entry(p) for p in Path(run).glob("model.p*")]],
        outputs=[file_entry(p, directory) for p in outputs], counts={"tracks": len(tracks)}))
    return result
