"""Path-level entry points (CLI, agent tools, benchmarks): reconstruct, train, evaluate.

Methods: ``linefit``, ``likelihood`` (MPE, iminuit per event), ``likelihood-spe``,
``likelihood-batched`` (the same MPE likelihood, all events at once with a fixed number of
Levenberg-Marquardt steps from the line fit: :mod:`aihep.reco.batchfit`), ``gnn`` (a run
directory from :func:`train_gnn_file`: a points or direction GNN, or a refiner, which runs its
seed GNN and then its passes, :mod:`aihep.reco.refine`) and ``gnn+likelihood`` (the batched
likelihood seeded by that GNN). Every method gets the same cleaned hit DOMs; the time per event
covers the reconstruction proper; input building (hit cleaning, for the GNN also the graph) is
reported separately, on one core.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from aihep import DEFAULT_SEED
from aihep._atomic import ensure_writable_dir, write_json_atomic
from aihep.errors import ConfigError, InputError
from aihep.nn.train import TrainConfig
from aihep.reco.events import DomSummary, dom_summaries, load_events, pad_doms, truth_directions
from aihep.reco.likelihood import LikelihoodConfig, fit_track
from aihep.reco.linefit import causal_mask, line_fits, select
from aihep.reco.metrics import Resolution, resolution
from aihep.reco.simulate import SimConfig

METHODS = ("linefit", "likelihood", "likelihood-spe", "likelihood-batched", "gnn",
           "gnn+likelihood")


@dataclass(frozen=True)
class Reconstruction:
    """Directions (n, 3) (NaN: no fit), status per event, seconds of the fit and of the
    input preparation (cleaning; graph building for the GNN)."""

    method: str
    directions: np.ndarray
    status: list[str]
    seconds: float
    prepare_seconds: float = 0.0


def cleaned_doms(events: ak.Array) -> list[DomSummary]:
    """Per event, the hit DOMs surviving the causality cleaning."""
    return [select(doms, causal_mask(doms)) for doms in dom_summaries(events)]


def _fit_chunk(task: tuple[str, list[DomSummary]]) -> tuple[np.ndarray, list[str], float]:
    config = LikelihoodConfig.model_validate_json(task[0])
    start = time.process_time()
    fits = [fit_track(doms, config) for doms in task[1]]
    return (np.array([f.direction for f in fits]).reshape(-1, 3), [f.status for f in fits],
            time.process_time() - start)


def reconstruct(method: str, events: ak.Array, gnn_run: str | Path | None = None,
                workers: int = 1, likelihood: LikelihoodConfig | None = None,
                progress: Callable[[int, int], None] | None = None) -> Reconstruction:
    """Reconstruct every event with ``method`` (see the module docstring)."""
    if method not in METHODS:
        msg = f"unknown method '{method}'; known: {', '.join(METHODS)}"
        raise ConfigError(msg)
    if method == "gnn":
        return _reconstruct_gnn(events, gnn_run)
    start = time.perf_counter()
    doms = cleaned_doms(events)
    prepared = time.perf_counter() - start
    if method == "linefit":
        start = time.perf_counter()
        directions = np.full((len(doms), 3), np.nan)
        for first in range(0, len(doms), 4096):  # padded arrays of bounded size
            padded = pad_doms(doms[first: first + 4096])
            directions[first: first + 4096] = line_fits(padded[0], padded[1],
                                                        padded[3]).direction
        seconds = time.perf_counter() - start
        status = ["ok" if np.all(np.isfinite(d)) else "failed" for d in directions]
        return Reconstruction(method, directions, status, seconds, prepared)
    if method in ("likelihood-batched", "gnn+likelihood"):
        from aihep.reco.batchfit import fit_tracks_batched

        seeds, seed_seconds = None, 0.0
        if method == "gnn+likelihood":
            gnn = _reconstruct_gnn(events, gnn_run, doms)
            seeds, seed_seconds = gnn.directions, gnn.seconds
            prepared += gnn.prepare_seconds
        start = time.perf_counter()
        directions, status = fit_tracks_batched(doms, seeds, likelihood)
        seconds = time.perf_counter() - start + seed_seconds
        return Reconstruction(method, directions, status, seconds, prepared)
    config = (likelihood or LikelihoodConfig()).model_copy(
        update={"variant": "spe" if method == "likelihood-spe" else "mpe"})
    fit = _reconstruct_likelihood(method, doms, config, workers, progress)
    return dataclasses.replace(fit, prepare_seconds=prepared)


def _reconstruct_likelihood(method: str, doms: list[DomSummary], config: LikelihoodConfig,
                            workers: int, progress: Callable[[int, int], None] | None
                            ) -> Reconstruction:
    from aihep.workflow.executor import ExecutorConfig, make_executor

    size = max(1, min(200, -(-len(doms) // (4 * workers))))
    chunks = [doms[i: i + size] for i in range(0, len(doms), size)]
    tasks = [(config.model_dump_json(), chunk) for chunk in chunks]
    engine = make_executor(ExecutorConfig(kind="local" if workers > 1 else "serial",
                                          workers=workers))
    results: dict[int, tuple[np.ndarray, list[str], float]] = {}
    try:
        indexed = [(i, t) for i, t in enumerate(tasks)]
        for i, out in engine.map_unordered(_fit_indexed, indexed):
            results[i] = out
            if progress is not None:
                progress(sum(len(chunks[j]) for j in results), len(doms))
    finally:
        engine.close()
    directions = np.concatenate([results[i][0] for i in range(len(chunks))]) if chunks else \
        np.zeros((0, 3))
    status = [s for i in range(len(chunks)) for s in results[i][1]]
    cpu = sum(results[i][2] for i in range(len(chunks)))
    # time per event on ``workers`` cores: CPU time of the fits divided by the cores used
    return Reconstruction(method, directions, status, cpu / workers)


def _fit_indexed(item: tuple[int, tuple[str, list[DomSummary]]]
                 ) -> tuple[int, tuple[np.ndarray, list[str], float]]:
    return item[0], _fit_chunk(item[1])


def _reconstruct_gnn(events: ak.Array, run: str | Path | None,
                     cleaned: list[DomSummary] | None = None) -> Reconstruction:
    from aihep.reco.gnn import graph_inputs, load_gnn, predict_tracks
    from aihep.reco.refine import refine_tracks

    if run is None:
        msg = "methods 'gnn' and 'gnn+likelihood' need a trained run directory (aihep reco train)"
        raise ConfigError(msg)
    model = load_gnn(run)
    refiner = None
    if model.config.frame == "hypothesis":  # a refiner run keeps its seed GNN in seed/
        refiner, model = model, load_gnn(Path(run) / "seed")
    start = time.perf_counter()
    inputs = graph_inputs(events, model.config.max_doms, with_truth=False,
                          frame=model.config.frame, cleaned=cleaned)
    prepared = time.perf_counter() - start
    start = time.perf_counter()
    directions, points = predict_tracks(model, inputs)
    if refiner is not None:
        directions, points = refine_tracks(refiner, inputs, directions, points)
    seconds = time.perf_counter() - start
    status = ["ok" if ok else "too few hits" for ok in inputs.ok]
    return Reconstruction("gnn", directions, status, seconds, prepared)


@dataclass(frozen=True)
class SimulationRun:
    """A simulated event file."""

    events_file: Path
    n_events: int

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.events_file), "events": self.n_events}


def simulate_file(out: str | Path, config: SimConfig = SimConfig(),  # noqa: B008
                  n_events: int = 1000, geometry: str | Path | None = None,
                  seed: int = DEFAULT_SEED, workers: int = 1, events_per_chunk: int = 1000,
                  progress: Callable[[int, int], None] | None = None,
                  executor: Any = None, force: bool = False) -> SimulationRun:
    """Simulate through-going muons into ``out/events.parquet`` (default TRIDENT-like
    detector, or DOM positions from a geometry CSV with x,y,z[,string] in m)."""
    from aihep.reco.geometry import load_geometry
    from aihep.reco.simulate import simulate_dataset

    layout = load_geometry(geometry) if geometry is not None else None
    target = simulate_dataset(config, n_events, out, seed, layout, workers, events_per_chunk,
                              progress, executor, force)
    return SimulationRun(target, n_events)


@dataclass(frozen=True)
class GNNRun:
    """What GNN training produced (losses per epoch)."""

    directory: Path
    preset: str
    target: str
    n_train: int
    n_val: int
    best_epoch: int
    refine_from: str | None
    train_loss: list[float]
    val_loss: list[float]
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["directory"] = str(self.directory)
        return out


GNN_TRAIN = TrainConfig(epochs=20, batch_size=128, learning_rate=2e-3, patience=5)
"""Default training settings of the reco GNNs."""


def train_gnn_file(data: str | Path, out: str | Path, preset: str = "gnn-lite",
                   target: str = "points", train_config: TrainConfig = GNN_TRAIN,
                   val_fraction: float = 0.1, seed: int = DEFAULT_SEED,
                   refine_from: str | Path | None = None,
                   progress: Callable[[int, int, float], None] | None = None,
                   force: bool = False) -> GNNRun:
    """Train a GNN on a simulated event file; writes the run directory (model, history,
    manifest; per-epoch checkpoint for resume) and returns a summary.

    With ``refine_from`` (a points-GNN run in the detector frame), trains a refiner
    (:mod:`aihep.reco.refine`) of size ``preset`` on that GNN's tracks of the same events (half
    of them pulled toward the truth by a uniform share); the seed GNN is copied into
    ``out/seed`` so the run directory reconstructs on its own.
    """
    import torch

    from aihep.nn.train import seeded, train
    from aihep.reco.gnn import TrackGNN, gnn_loss, gnn_preset, graph_inputs, load_gnn, save_gnn
    from aihep.workflow.manifest import build_manifest, claim_output_dir, file_entry, write_manifest

    claim_output_dir(out, "aihep.reco.train", force, strict=False)
    config = gnn_preset(preset, target)
    events = load_events(data, truth=True)
    if "emit_x" not in events.fields and target == "points":
        raise ConfigError("target 'points' needs simulated events with emit_x/y/z truth")
    seed_model = None
    if refine_from is not None:
        seed_model = load_gnn(refine_from)
        if seed_model.config.target != "points" or seed_model.config.frame != "detector":
            raise InputError(refine_from, "gnn.json", "a points GNN run in the detector frame "
                             "(aihep reco train gnn-lite|gnn-large) to refine")
        config = config.model_copy(update={"frame": "hypothesis", "target": "points",
                                           "max_doms": seed_model.config.max_doms})
    directory = ensure_writable_dir(out)
    with seeded(seed):
        rng = np.random.default_rng(seed)
        inputs = graph_inputs(events, config.max_doms,
                              frame="detector" if seed_model else config.frame)
        if seed_model is not None:
            inputs = _refiner_inputs(seed_model, inputs, events, rng)
            save_gnn(seed_model, directory / "seed")
        order = rng.permutation(np.flatnonzero(inputs.ok))
        n_val = max(1, int(val_fraction * len(order)))
        assert inputs.emission is not None and inputs.direction is not None  # simulated truth
        tensors = (inputs.features, inputs.coords, inputs.mask, inputs.charge, inputs.emission,
                   inputs.direction)
        val_idx, train_idx = torch.from_numpy(order[:n_val]), torch.from_numpy(order[n_val:])
        model = TrackGNN(config)
        train_config = train_config.model_copy(update={"seed": seed})
        start = time.perf_counter()
        result = train(model, gnn_loss, tuple(t[train_idx] for t in tensors),
                       tuple(t[val_idx] for t in tensors), train_config,
                       checkpoint=directory / "checkpoint.pt", progress=progress)
    seconds = time.perf_counter() - start
    save_gnn(model, directory)
    run = GNNRun(directory, preset, target, len(train_idx), n_val, result.best_epoch,
                 str(refine_from) if refine_from is not None else None, result.train_loss,
                 result.val_loss, seconds)
    summary = {k: v for k, v in run.to_dict().items() if k != "directory"}
    write_json_atomic(directory / "history.json", summary)
    write_manifest(directory, build_manifest(
        "aihep.reco.train", config={"gnn": config.model_dump(mode="json"),
                                    "train": train_config.model_dump(mode="json"),
                                    "refine_from": summary["refine_from"]},
        seed=seed, inputs=[file_entry(data)] + (
            [file_entry(Path(refine_from) / "model.pt")] if refine_from is not None else []),
        outputs=[file_entry(directory / "model.pt", directory)]))
    return run


def _refiner_inputs(seed_model: Any, inputs: Any, events: ak.Array,
                    rng: np.random.Generator) -> Any:
    """Training inputs of a refiner: the seed GNN's tracks of the training events, half of
    them pulled toward the truth, seen as hypotheses."""
    from aihep.reco.gnn import predict_tracks
    from aihep.reco.refine import hypothesis_inputs, pulled_toward

    directions, points = predict_tracks(seed_model, inputs)
    truth = truth_directions(events)
    good = np.all(np.isfinite(directions), axis=1)
    directions[good] = pulled_toward(directions[good].astype(float), truth[good], rng)
    return hypothesis_inputs(inputs, directions, points)


def evaluate_file(method: str, data: str | Path, gnn_run: str | Path | None = None,
                  out: str | Path | None = None, workers: int = 1, limit: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  force: bool = False, reporter: Callable[..., Path] | None = None
                  ) -> Resolution:
    """Resolution of ``method`` on a simulated file (first ``limit`` events); with ``out``,
    writes ``resolution_<method>.json`` there and, with a ``reporter`` (e.g.
    :func:`aihep.report.reco.write_reco_report`), ``report_<method>.html``."""
    from aihep.workflow.manifest import claim_output_dir

    if out is not None:
        claim_output_dir(out, "aihep.reco.evaluate", force, strict=False)
    events = load_events(data, truth=True)
    if limit is not None:
        events = events[:limit]
    reco = reconstruct(method, events, gnn_run, workers, progress=progress)
    result = resolution(method, reco.directions, truth_directions(events),
                        ak.to_numpy(events.energy_tev), reco.seconds)
    result.extra["prepare_seconds_per_event"] = reco.prepare_seconds / max(len(events), 1)
    result.extra["status_counts"] = {s: reco.status.count(s) for s in set(reco.status)}
    if out is not None:
        from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

        directory = ensure_writable_dir(out)
        target = write_json_atomic(directory / f"resolution_{method}.json",
                                   json.loads(json.dumps(result.to_dict(), default=float)))
        outputs = [file_entry(target, directory)]
        if reporter is not None:
            report = reporter(directory / f"report_{method}.html", [result],
                              f"aihep reco: {method} on {Path(data).name}")
            outputs.append(file_entry(report, directory))
        inputs = [file_entry(data)] + ([file_entry(Path(gnn_run) / "model.pt")]
                                       if gnn_run is not None else [])
        write_manifest(directory, build_manifest(
            "aihep.reco.evaluate", config={"method": method, "limit": limit,
                                           "gnn_run": str(gnn_run) if gnn_run else None},
            seed=0, inputs=inputs, outputs=outputs))
    return result
