"""The event factory: chunked, resumable, parallel generation of a dataset.

A dataset of ``n_events`` selected events is built from chunks of ``chunk_size`` generated
events. Chunk ``i`` is seeded from (seed, i) alone, so its content does not depend on the
number of workers; the dataset is the first ``n_events`` selected events in chunk order.
Completed chunks are written atomically and survive a crash: re-running the same command
resumes. See :mod:`aihep.io.eventstore` for the layout.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from aihep._atomic import ensure_writable_dir, write_json_atomic
from aihep.errors import ConfigError, OutputError
from aihep.events.config import GenerationConfig
from aihep.events.processes import get_process
from aihep.io.eventstore import EVENTS_DIR, chunk_paths, read_events
from aihep.workflow import seeds
from aihep.workflow.chunks import ChunkJob, ChunkStore, Writer, run_waves, write_chunk
from aihep.workflow.executor import ExecutorConfig, make_executor
from aihep.workflow.manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_outputs,
    file_entry,
    write_manifest,
)

RUN_STATE = "run.json"
STAGES = ("init", "generation", "extraction", "detector", "clustering", "substructure",
          "selection", "write")

ProgressFn = Callable[[int, int, int], None]
"""progress(selected_events_done, selected_events_target, generated_events_done)"""


@dataclass(frozen=True)
class GenerationResult:
    """What a generation run produced."""

    directory: Path
    n_events: int
    n_generated: int
    n_chunks: int
    sigma_gen_pb: float
    wall_seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    resumed_chunks: int = 0

    @property
    def efficiency(self) -> float:
        """Fraction of generated events that passed the selection."""
        return self.n_events / self.n_generated if self.n_generated else float("nan")

    def read(self) -> ak.Array:
        """Load the events (awkward Array)."""
        return read_events(self.directory)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["directory"] = str(self.directory)
        out["efficiency"] = self.efficiency
        return out


def pythia_settings(config: GenerationConfig, seed: int) -> list[str]:
    """Full ordered Pythia settings of a run: common, process, then the user's extras."""
    from aihep.events.pythia import base_settings

    process = get_process(config.process)
    return [*base_settings(config.ecm_gev, seed), *process.settings(config.params),
            *config.settings]


def validate(config: GenerationConfig) -> None:
    """Fail early (before any output exists) on an unknown process, parameter or setting."""
    from aihep.events.pythia import make_pythia

    get_process(config.process).resolve_params(config.params)
    make_pythia(pythia_settings(config, seed=1), init=True)


def _trivial_selection(config: GenerationConfig) -> bool:
    sel = config.selection
    return sel.min_jets == 0 and sel.leading_jet_pt_min_gev <= 0


def build_events(config: GenerationConfig, index: int, n_generate: int,
                 timings: dict[str, float] | None = None) -> tuple[ak.Array, dict[str, Any]]:
    """Generate, measure, cluster and select the events of chunk ``index``.

    Returns:
        (selected events, chunk bookkeeping) without writing anything.
    """
    from aihep.events.detector import apply_detector
    from aihep.events.jets import add_substructure, find_jets
    from aihep.events.pythia import generate_batch, make_pythia, sigma_gen_pb

    timings = timings if timings is not None else {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - clock
        clock = now

    process = get_process(config.process)
    pythia_seed = seeds.pythia_seed(config.seed, "chunk", index)
    pythia = make_pythia(pythia_settings(config, pythia_seed))
    lap("init")
    truth = generate_batch(pythia, n_generate, timings=timings)
    clock = time.perf_counter()
    measured = apply_detector(truth, config.detector, seeds.rng(config.seed, "detector", index))
    lap("detector")
    jets, all_constituents = find_jets(measured, config.jets)
    lap("clustering")

    # Select before substructure: only kept events pay for it.
    n_jets = ak.to_numpy(ak.num(jets, axis=1))
    lead_pt = ak.to_numpy(ak.fill_none(ak.firsts(jets.pt), 0.0))
    keep = (n_jets >= config.selection.min_jets) & (
        lead_pt > config.selection.leading_jet_pt_min_gev)
    if config.selection.min_jet_constituents > 0:
        keep &= ak.to_numpy(ak.all(jets.n_constituents >= config.selection.min_jet_constituents,
                                   axis=1))
    lap("selection")
    jets = add_substructure(jets[keep], all_constituents[keep], config.jets)
    lap("substructure")
    n = truth.n_events
    events = ak.zip({
        "event_id": index * config.chunk_size + np.arange(n, dtype=np.int64)[keep],
        "label": np.full(n, process.label, dtype=np.int8)[keep],
        "weight": truth.weight[keep],
        "mhat_gev": truth.mhat_gev[keep],
        "pthat_gev": truth.pthat_gev[keep],
        "n_particles": measured.counts.astype(np.int32)[keep],
        "jets": jets,
    }, depth_limit=1)
    lap("write")
    meta = {
        "index": index,
        "chunk_key": config.chunk_key(),
        "pythia_seed": pythia_seed,
        "n_generated": int(n),
        "n_requested": int(n_generate),
        "n_kept": int(keep.sum()),
        "sigma_gen_pb": sigma_gen_pb(pythia),
    }
    return events, meta


def make_chunk(job: ChunkJob) -> tuple[Writer, dict[str, Any]]:
    """The chunk engine's task: build chunk ``job.index``; return its writer and bookkeeping."""
    config = GenerationConfig.model_validate_json(job.config_json)
    timings: dict[str, float] = {}
    events, meta = build_events(config, job.index, job.size, timings)

    def writer(path: Path) -> None:
        ak.to_parquet(ak.to_packed(events), path, compression="zstd")

    return writer, {**meta, "timings": timings}


class _Plan:
    """Which chunks exist, which are needed, which to run next."""

    def __init__(self, config: GenerationConfig, store: ChunkStore, n_workers: int) -> None:
        self.config = config
        self.store = store
        self.n_workers = n_workers
        self.done: dict[int, dict[str, Any]] = {}
        self.fixed = _trivial_selection(config)
        self.n_fixed_chunks = math.ceil(config.n_events / config.chunk_size)

    def size(self, index: int) -> int:
        if self.fixed and index == self.n_fixed_chunks - 1:
            return self.config.n_events - index * self.config.chunk_size
        return self.config.chunk_size

    def load_existing(self) -> int:
        """Complete chunks of this configuration and size (others are made again)."""
        for (_, index), meta in self.store.completed().items():
            if meta.get("n_requested") == self.size(index):
                self.done[index] = meta
        return len(self.done)

    def __call__(self, done: dict[tuple[str, int], dict[str, Any]]) -> list[ChunkJob]:
        """The engine's planner: the next wave, or none once n_events are covered."""
        self.done = {index: meta for (_, index), meta in done.items()}
        if self.covering() is not None:
            return []
        return [self.store.job("chunk", i, self.size(i), self.config.seed,
                               self.config.model_dump_json())
                for i in self.next_wave(self.n_workers)]

    def covering(self) -> int | None:
        """Number of leading chunks that hold n_events selected events, or None."""
        total, index = 0, 0
        while index in self.done:
            total += self.done[index]["n_kept"]
            index += 1
            if total >= self.config.n_events:
                return index
        return None

    def next_wave(self, n_workers: int) -> list[int]:
        if self.fixed:
            return [i for i in range(self.n_fixed_chunks) if i not in self.done]
        kept = sum(m["n_kept"] for m in self.done.values())
        generated = sum(m["n_generated"] for m in self.done.values())
        if self.done and kept == 0 and generated >= 20 * self.config.chunk_size:
            msg = (f"the selection kept no event out of {generated} generated: loosen it "
                   "or check the process")
            raise ConfigError(msg)
        if kept == 0:
            n_new = n_workers
        else:
            # Count the missing events from the first gap on: chunks after a gap are spares.
            have, index = 0, 0
            while index in self.done:
                have += self.done[index]["n_kept"]
                index += 1
            efficiency = kept / generated
            missing = self.config.n_events - have
            n_new = math.ceil(1.1 * missing / (efficiency * self.config.chunk_size))
            n_new = max(n_new, n_workers)
        wave: list[int] = []
        index = 0
        while len(wave) < n_new:
            if index not in self.done:
                wave.append(index)
            index += 1
        return wave


def _prepare_directory(directory: Path, config: GenerationConfig, overwrite: bool) -> None:
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(directory, "aihep.events", overwrite, strict=False)
    ensure_writable_dir(directory)
    state_path = directory / RUN_STATE
    ours = state_path.exists() or (directory / MANIFEST_NAME).exists()
    foreign = [p for p in directory.iterdir() if p.name not in (RUN_STATE, MANIFEST_NAME,
                                                                EVENTS_DIR)]
    if overwrite:
        for name in (EVENTS_DIR,):
            shutil.rmtree(directory / name, ignore_errors=True)
        for name in (RUN_STATE, MANIFEST_NAME):
            (directory / name).unlink(missing_ok=True)
    elif foreign and not ours:
        msg = (f"{directory}: output directory is not empty and holds no aihep run; "
               "choose another directory or pass overwrite")
        raise OutputError(msg)
    elif state_path.exists():
        import json

        previous = json.loads(state_path.read_text()).get("chunk_key")
        if previous != config.chunk_key():
            msg = (f"{directory}: holds an unfinished run with a different configuration; "
                   "resume it with the same options, or pass overwrite to start afresh")
            raise OutputError(msg)
    (directory / MANIFEST_NAME).unlink(missing_ok=True)
    write_json_atomic(state_path, {"chunk_key": config.chunk_key(),
                                   "config": config.model_dump(mode="json")})


def _existing_result(directory: Path, config: GenerationConfig) -> GenerationResult | None:
    import json

    path = directory / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if manifest.get("config") != config.model_dump(mode="json"):
        return None
    if not check_outputs(directory, manifest)["ok"]:
        return None  # a damaged dataset is resumed: its damaged chunks are made again
    counts = manifest.get("counts", {})
    return GenerationResult(directory, counts["n_events"], counts["n_generated"],
                            counts["n_chunks"], counts.get("sigma_gen_pb", float("nan")), 0.0,
                            {}, resumed_chunks=counts["n_chunks"])


def generate(
    config: GenerationConfig,
    out: str | Path,
    executor: ExecutorConfig | None = None,
    progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> GenerationResult:
    """Generate ``config.n_events`` selected events into the event store ``out``.

    Args:
        config: process, counts, seed, detector, jets, selection.
        out: output directory (created; an unfinished run of the same config is resumed).
        executor: where chunks run (default: serially in this process).
        progress: called after each chunk with (selected done, target, generated done).
        overwrite: discard a previous run in ``out``.

    Example:
        >>> cfg = GenerationConfig(process="qcd-dijet", n_events=1000, seed=3)
        >>> result = generate(cfg, "runs/qcd", ExecutorConfig(kind="local", workers=2))
    """
    directory = Path(out)
    validate(config)
    if not overwrite and (done := _existing_result(directory, config)) is not None:
        return done
    start = time.perf_counter()
    # the engine first: a cluster that cannot start leaves nothing behind
    engine = make_executor(executor or ExecutorConfig(kind="serial"))
    try:
        _prepare_directory(directory, config, overwrite)
        store = ChunkStore(directory / EVENTS_DIR, config.chunk_key())
    except BaseException:
        engine.close()
        raise
    plan = _Plan(config, store, engine.n_workers)
    resumed = plan.load_existing()
    stage_seconds = dict.fromkeys(STAGES, 0.0)
    counted: set[int] = set(plan.done)

    def report(done: dict[tuple[str, int], dict[str, Any]]) -> None:
        for (_, index), meta in done.items():
            if index not in counted:  # a chunk made in this run: add its stage times
                counted.add(index)
                for stage, seconds in meta.get("timings", {}).items():
                    stage_seconds[stage] = stage_seconds.get(stage, 0.0) + seconds
                stage_seconds["write"] += meta.get("write_seconds", 0.0)
        if progress is not None:
            kept = sum(m["n_kept"] for m in done.values())
            generated = sum(m["n_generated"] for m in done.values())
            progress(min(kept, config.n_events), config.n_events, generated)

    try:
        run_waves(store, engine, make_chunk, plan,
                  done={("chunk", i): m for i, m in plan.done.items()}, on_chunk=report)
    finally:
        engine.close()
    return _finalize(config, directory, plan, resumed, time.perf_counter() - start,
                     stage_seconds)


def _finalize(config: GenerationConfig, directory: Path, plan: _Plan, resumed: int,
              wall: float, stage_seconds: dict[str, float]) -> GenerationResult:
    n_used = plan.covering()
    assert n_used is not None
    last = n_used - 1
    surplus = sum(plan.done[i]["n_kept"] for i in range(n_used)) - config.n_events
    if surplus > 0:
        path = chunk_paths(directory, last)[0]
        events = ak.from_parquet(path)
        meta = dict(plan.done[last])
        keep = meta["n_kept"] - surplus
        meta.update(n_kept=keep, truncated_from=meta["n_kept"])
        plan.done[last] = write_chunk(path, lambda tmp: ak.to_parquet(
            ak.to_packed(events[:keep]), tmp, compression="zstd"), meta)
    for index in sorted(plan.done):
        if index >= n_used:
            for path in chunk_paths(directory, index):
                path.unlink(missing_ok=True)
    metas = [plan.done[i] for i in range(n_used)]
    outputs = [file_entry(chunk_paths(directory, i)[0], directory, n_events=plan.done[i]["n_kept"])
               for i in range(n_used)]
    sigmas = [m["sigma_gen_pb"] for m in metas if np.isfinite(m.get("sigma_gen_pb", np.nan))]
    sigma = float(np.mean(sigmas)) if sigmas else float("nan")
    n_generated = sum(m["n_generated"] for m in metas)
    counts = {"n_events": config.n_events, "n_generated": n_generated, "n_chunks": n_used,
              "efficiency": config.n_events / n_generated, "sigma_gen_pb": sigma}
    process = get_process(config.process)
    manifest = build_manifest(
        "aihep.events", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=outputs, counts=counts,
        extra={"process": {"name": process.name, "summary": process.summary,
                           "params": process.resolve_params(config.params),
                           "pythia_settings": pythia_settings(config, seed=0)[3:]},
               "chunks": [{"index": m["index"], "pythia_seed": m["pythia_seed"],
                           "n_generated": m["n_generated"], "n_kept": m["n_kept"]}
                          for m in metas]},
    )
    write_manifest(directory, manifest)
    (directory / RUN_STATE).unlink(missing_ok=True)
    return GenerationResult(directory, config.n_events, n_generated, n_used, sigma, wall,
                            stage_seconds, resumed_chunks=resumed)
