"""Training and evaluation of tau-ID models, in memory and from files.

    model, history = fit_tau_model(sim, TauTrainConfig())                       # simulation
    dann, _ = fit_tau_model(sim, TauTrainConfig(dann_lambda_max=1.0), data=data_cr)
    probs = tau_probabilities(model, data_test)

DANN: the domain head sees simulation candidates (domain 0) and unlabelled data candidates
(domain 1) drawn with the same mixture of samples (process-defined control regions, as CMS
used its mu-tau_h region); data labels are never read. Classes are weighted to equal total
weight in the classification loss. Validation (early stopping, best epoch): simulation only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep.nn.train import TrainConfig, TrainResult
from aihep.tau.data import CLASSES, JET, TauCandidates
from aihep.tau.model import TauCNN, TauModelConfig, TauParT, build_tau_model

KIND_TRAIN, KIND_EVAL = "aihep.tau.train", "aihep.tau.evaluate"


class TauTrainConfig(BaseModel):
    """Network, optimization, DANN weight (0: none) and the validation share."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: TauModelConfig = Field(default_factory=TauModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=10, batch_size=256, learning_rate=1e-3, patience=3))
    dann_lambda_max: float = Field(0.0, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1)


def _tensors(c: TauCandidates) -> list[torch.Tensor]:
    return [torch.from_numpy(c.particles.astype(np.float32)), torch.from_numpy(c.mask),
            torch.from_numpy(c.high_level.astype(np.float32))]


def matched_mixture(simulation: TauCandidates, data: TauCandidates, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` data candidates drawn with the simulation's per-sample mixture (the
    sample is the process-defined region a candidate comes from, known in real data)."""
    sim_share = np.bincount(simulation.sample, minlength=8) / len(simulation)
    picks = []
    for s in np.flatnonzero(sim_share):
        pool = np.flatnonzero(data.sample == s)
        if len(pool) == 0:
            continue
        k = round(sim_share[s] * n)
        picks.append(rng.choice(pool, k, replace=len(pool) < k))
    return np.concatenate(picks) if picks else rng.choice(len(data), n)


def fit_tau_model(simulation: TauCandidates, config: TauTrainConfig | None = None,
                  data: TauCandidates | None = None, checkpoint: Any = None,
                  progress: Callable[[int, int, float], None] | None = None
                  ) -> tuple[TauCNN | TauParT, TrainResult]:
    """Train on labelled simulation; with ``data`` and ``dann_lambda_max`` > 0, adversarially
    against a domain classifier (gradient reversal, DANN schedule over the epochs)."""
    from aihep.nn.dann import dann_schedule
    from aihep.nn.train import seeded, train

    config = config or TauTrainConfig()
    dann = data is not None and config.dann_lambda_max > 0
    model_config = config.model.model_copy(update={"domain_head": dann})
    with seeded(model_config.seed):
        model = build_tau_model(model_config)
    n = len(simulation)
    rng = np.random.default_rng(config.train.seed)
    order = torch.from_numpy(rng.permutation(n))
    n_val = max(1, round(config.val_fraction * n))
    tensors = [*_tensors(simulation), torch.from_numpy(simulation.label),
               torch.zeros(n)]
    train_part = [t[order[n_val:]] for t in tensors]
    val_part = [t[order[:n_val]] for t in tensors]
    counts = np.bincount(simulation.label, minlength=len(CLASSES)).astype(float)
    weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1), 0.0)
                           / len(CLASSES), dtype=torch.float32)
    if dann:
        assert data is not None
        pick = matched_mixture(simulation, data, n - n_val, rng)
        extra = [*(t[torch.from_numpy(pick)] for t in _tensors(data)),
                 torch.full((len(pick),), -1), torch.ones(len(pick))]
        train_part = [torch.cat([a, b]) for a, b in zip(train_part, extra, strict=True)]

    def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        particles, mask, high_level, target, domain = batch
        net = cast(TauCNN | TauParT, module)
        logits, features = net(particles, mask, high_level)
        labelled = target >= 0
        out = torch.nn.functional.cross_entropy(logits[labelled], target[labelled],
                                                weight=weights)
        if net.domain is not None and net.training:
            out = out + torch.nn.functional.binary_cross_entropy_with_logits(
                net.domain(features), domain)
        return out

    schedule = None
    if dann:
        assert model.domain is not None  # built with a domain head when dann
        schedule = dann_schedule(model.domain, config.dann_lambda_max)
    with seeded(config.train.seed):
        result = train(model, loss, train_part, val_part, config.train,
                       checkpoint=checkpoint, progress=progress, before_batch=schedule)
    model.eval()
    return model, result


def tau_probabilities(model: torch.nn.Module, candidates: TauCandidates,
                      batch_size: int = 2048) -> np.ndarray:
    """Class probabilities (n, 4) in the order of CLASSES."""
    model.eval()
    tensors = _tensors(candidates)
    out = []
    with torch.no_grad():
        for s in range(0, len(candidates), batch_size):
            logits, _ = model(*(t[s:s + batch_size] for t in tensors))
            out.append(torch.softmax(logits, 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class TauRun:
    directory: Path
    parameters: int
    best_epoch: int
    train_candidates: int
    adaptation_candidates: int
    minutes: float

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "parameters": self.parameters,
                "best_epoch": self.best_epoch, "train_candidates": self.train_candidates,
                "adaptation_candidates": self.adaptation_candidates, "minutes": self.minutes}


@dataclass(frozen=True)
class TauEvaluation:
    n_data: int
    n_simulation: int
    working_points: list[dict[str, Any]]
    curves: dict[str, Any]
    efficiency: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"data_candidates": self.n_data, "simulation_candidates": self.n_simulation,
                "working_points": self.working_points, "curves": self.curves,
                "efficiency_at_sim_fixed_50": self.efficiency}


def read_candidates(paths: Sequence[str | Path]) -> TauCandidates:
    from aihep.errors import InputError

    parts = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / "candidates.npz"
        if not path.is_file():
            raise InputError(path, "file", "a tau-candidate file (aihep tau dataset output)")
        parts.append(TauCandidates.load(path))
    return TauCandidates.concatenate(parts)


def load_tau_model(run: str | Path) -> torch.nn.Module:
    from aihep.errors import InputError

    run = Path(run)
    if not (run / "tau.json").is_file() or not (run / "model.pt").is_file():
        raise InputError(run, "tau.json / model.pt", "a tau-ID run (aihep tau train)")
    state = json.loads((run / "tau.json").read_text())
    model = build_tau_model(TauModelConfig.model_validate(state["model"]))
    model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    return model.eval()


def train_files(simulation: Sequence[str | Path], out: str | Path,
                config: TauTrainConfig | None = None,
                data: Sequence[str | Path] = (), force: bool = False,
                progress: Callable[[int, int, float], None] | None = None) -> TauRun:
    """Train on simulation candidate files (labels) and, for DANN, data candidate files
    (no labels read); writes model.pt, tau.json and a manifest (resumes from its
    checkpoint)."""
    from aihep._atomic import (
        ensure_writable_dir,
    )
    from aihep.errors import ConfigError
    from aihep.workflow.manifest import (
        claim_output_dir,
        file_entry,
    )

    config = config or TauTrainConfig()
    if config.dann_lambda_max > 0 and not data:
        msg = "DANN (--dann-lambda > 0) needs --data (unlabelled data candidate files)"
        raise ConfigError(msg)
    sim = read_candidates(simulation)
    if (sim.label < 0).any() or len(set(sim.label.tolist())) < 2:
        msg = f"{simulation[0]}: the simulation needs labelled candidates of >= 2 classes"
        raise ConfigError(msg)
    target = read_candidates(data) if data else None
    claim_output_dir(out, KIND_TRAIN, force, allowed=("train.ckpt",))
    directory = ensure_writable_dir(out)
    start = time.perf_counter()
    model, result = fit_tau_model(sim, config, target, directory / "train.ckpt", progress)
    minutes = (time.perf_counter() - start) / 60
    inputs = [file_entry(Path(p) / "candidates.npz" if Path(p).is_dir() else p)
              for p in (*simulation, *data)]
    parameters = write_run(directory, model, config, result, minutes, inputs,
                           {"simulation": len(sim),
                            "data": len(target) if target is not None else 0})
    return TauRun(directory, parameters, result.best_epoch,
                  len(sim), len(target) if target is not None else 0, minutes)


def write_run(directory: Path, model: TauCNN | TauParT, config: TauTrainConfig,
              result: TrainResult, minutes: float, inputs: list[dict[str, Any]],
              counts: dict[str, int]) -> int:
    """``model.pt``, ``tau.json``, ``history.json`` and the manifest of a trained model (what
    :func:`load_tau_model` and the expert registry read); returns the parameter count."""
    from aihep._atomic import save_torch_atomic, write_json_atomic
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    save_torch_atomic(directory / "model.pt", model.state_dict())
    state = {"model": model.config.model_dump(mode="json"),
             "config": config.model_dump(mode="json"), "classes": list(CLASSES)}
    write_json_atomic(directory / "tau.json", state)
    parameters = sum(p.numel() for p in model.parameters())
    write_json_atomic(directory / "history.json", {
        "best_epoch": result.best_epoch, "best_val_loss": float(result.val_loss[
            result.best_epoch]), "epochs": len(result.train_loss), "parameters": parameters,
        "minutes": minutes, "train_loss": result.train_loss, "val_loss": result.val_loss})
    write_manifest(directory, build_manifest(
        KIND_TRAIN, config=state, seed=config.train.seed, inputs=inputs,
        outputs=[file_entry(directory / f, directory) for f in ("model.pt", "tau.json",
                                                                "history.json")],
        counts=counts))
    return parameters


def evaluate_files(run: str | Path, data: Sequence[str | Path],
                   simulation: Sequence[str | Path], out: str | Path, force: bool = False,
                   reporter: Callable[..., Path] | None = None) -> TauEvaluation:
    """Working points (fixed in simulation; at equal efficiency in data), misidentification
    curves and efficiency against pT and decay mode on labelled data candidates (labels
    used to score only), with simulated test candidates for the simulation-fixed cuts."""
    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.tau.metrics import efficiency_by, misid_curve, working_points
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    model = load_tau_model(run)
    data_c, sim_c = read_candidates(data), read_candidates(simulation)
    claim_output_dir(out, KIND_EVAL, force)
    p_data, p_sim = tau_probabilities(model, data_c), tau_probabilities(model, sim_c)
    rows = working_points(p_sim, sim_c.label, p_data, data_c.label)
    cut50 = next(r["cut"] for r in rows if r["working_point"] == "sim-fixed"
                 and r["tau_eff"] == 0.5)
    result = TauEvaluation(
        len(data_c), len(sim_c), rows,
        {"data": misid_curve(p_data, data_c.label), "simulation": misid_curve(p_sim,
                                                                              sim_c.label)},
        {"data": efficiency_by(p_data, data_c.label, data_c.true_pt_gev,
                               data_c.true_decay_mode, cut50),
         "simulation": efficiency_by(p_sim, sim_c.label, sim_c.true_pt_gev,
                                     sim_c.true_decay_mode, cut50)})
    directory = ensure_writable_dir(out)
    outputs = [write_json_atomic(directory / "evaluation.json", result.to_dict())]
    if reporter is not None:
        outputs.append(reporter(directory / "report.html", result.to_dict()))
    write_manifest(directory, build_manifest(
        KIND_EVAL, config={"run": str(run)}, seed=0,
        inputs=[file_entry(Path(p) / "candidates.npz" if Path(p).is_dir() else p)
                for p in (*data, *simulation)],
        outputs=[file_entry(p, directory) for p in outputs],
        counts={"data": len(data_c), "simulation": len(sim_c)}))
    return result


def predict_file(run: str | Path, candidates: str | Path, out: str | Path,
                 force: bool = False) -> dict[str, Any]:
    """Class probabilities (tau, jet, e, mu) and D_jet of every candidate of a file into
    ``out/probabilities.npz`` (no labels needed)."""
    from aihep._atomic import ensure_writable_dir, write_atomic
    from aihep.tau.metrics import discriminant
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    model = load_tau_model(run)
    data = read_candidates([candidates])
    claim_output_dir(out, "aihep.tau.predict", force)
    probabilities = tau_probabilities(model, data)
    directory = ensure_writable_dir(out)

    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, probabilities=probabilities.astype(np.float32),
                     d_jet=discriminant(probabilities, JET).astype(np.float32),
                     classes=np.array(CLASSES))

    path = write_atomic(directory / "probabilities.npz", save)
    write_manifest(directory, build_manifest(
        "aihep.tau.predict", config={"run": str(run)}, seed=0,
        inputs=[file_entry(Path(candidates) / "candidates.npz" if Path(candidates).is_dir()
                           else candidates)],
        outputs=[file_entry(path, directory)], counts={"candidates": len(data)}))
    return {"candidates": len(data), "probabilities": str(path),
            "mean_probabilities": dict(zip(CLASSES, probabilities.mean(0).tolist(),
                                           strict=True)) if len(data) else {}}
