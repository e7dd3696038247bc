"""Shower datasets from the reference cascade Monte Carlo, chunked and resumable.

Shower ``i`` of a dataset has its incident energy (log-uniform in the layout's range) and
its random stream from (seed, i) alone, so the file does not depend on the chunking, the
number of workers or the engine (the one chunk engine, :mod:`aihep.workflow.chunks`). The
output is a CaloChallenge HDF5 file (``showers.h5``) with a manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.fastsim.cascade import CascadeConfig, simulate
from aihep.fastsim.geometry import CaloLayout, preset
from aihep.io.calo import ShowerSet, read_showers, write_showers
from aihep.workflow.chunks import ChunkJob, ChunkStore, Writer, run_waves
from aihep.workflow.executor import ExecutorConfig, make_executor


class ShowerDatasetConfig(BaseModel):
    """What to simulate: layout, cascade settings, count, chunking, seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: CaloLayout = Field(default_factory=lambda: preset("ds2"))
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    n_showers: int = Field(1000, ge=1)
    showers_per_chunk: int = Field(200, ge=1)
    seed: int = DEFAULT_SEED


def incident_energies(layout: CaloLayout, seed: int, first: int, n: int) -> np.ndarray:
    """Log-uniform incident energies (MeV) of showers first .. first + n - 1."""
    from aihep.workflow import seeds

    lo, hi = np.log(layout.energy_min_mev), np.log(layout.energy_max_mev)
    return np.array([np.exp(lo + (hi - lo) * seeds.rng(seed, "energy", i).random())
                     for i in range(first, first + n)])


def make_chunk(job: ChunkJob) -> tuple[Writer, dict[str, Any]]:
    """The chunk engine's task: showers ``index * per_chunk`` .. of a dataset."""
    config = ShowerDatasetConfig.model_validate_json(job.config_json)
    first = job.index * config.showers_per_chunk
    energies = incident_energies(config.layout, job.seed, first, job.size)
    start = time.perf_counter()
    showers = simulate(config.layout, energies, config.cascade, job.seed, first)
    seconds = time.perf_counter() - start
    data = ShowerSet(energies, showers)
    return (lambda path: write_showers(data, path)), {"seconds": seconds, "first": first}


@dataclass(frozen=True)
class ShowerDataset:
    """A simulated shower file."""

    path: Path
    n_showers: int
    cpu_seconds: float

    def read(self) -> ShowerSet:
        return read_showers(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.path), "showers": self.n_showers,
                "ms_per_shower": 1e3 * self.cpu_seconds / max(self.n_showers, 1)}


def simulate_dataset(config: ShowerDatasetConfig, out: str | Path,
                     executor: ExecutorConfig | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     force: bool = False) -> ShowerDataset:
    """Simulate ``config.n_showers`` showers into ``out/showers.h5`` (+ manifest); a rerun
    resumes from the finished chunks."""
    from aihep._atomic import ensure_writable_dir
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    claim_output_dir(out, "aihep.calo.simulate", force, strict=False)
    engine = make_executor(executor or ExecutorConfig(kind="serial"))
    try:
        directory = ensure_writable_dir(out)
        dump = config.model_dump(mode="json", exclude={"n_showers"})
        for option, before in (("scattering", "tangent"), ("scattering_power", "highland")):
            if dump["cascade"][option] == before:  # chunks made before the option existed
                del dump["cascade"][option]         # stay valid
        key = json.dumps(dump, sort_keys=True)
        store = ChunkStore(directory / "chunks", key, suffix=".h5")
        per = config.showers_per_chunk
        jobs = [store.job("showers", i, min(per, config.n_showers - first), config.seed,
                          config.model_dump_json())
                for i, first in enumerate(range(0, config.n_showers, per))]
    except BaseException:
        engine.close()
        raise

    def plan(done: dict[tuple[str, int], dict[str, Any]]) -> list[ChunkJob]:
        return [j for j in jobs
                if done.get(("showers", j.index), {}).get("n_requested") != j.size]

    def report(done: dict[tuple[str, int], dict[str, Any]]) -> None:
        if progress is not None:
            progress(sum(m["n_requested"] for key, m in done.items()
                         if key[1] < len(jobs) and m["n_requested"] == jobs[key[1]].size),
                     config.n_showers)

    try:
        done = run_waves(store, engine, make_chunk, plan, on_chunk=report)
    finally:
        engine.close()
    parts = [read_showers(j.path) for j in jobs]
    data = ShowerSet(np.concatenate([p.incident_mev for p in parts]),
                     np.concatenate([p.showers_mev for p in parts]))
    target = write_showers(data, directory / "showers.h5")
    seconds = float(sum(done[("showers", j.index)]["seconds"] for j in jobs))
    write_manifest(directory, build_manifest(
        "aihep.calo.simulate", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=[file_entry(target, directory)],
        counts={"showers": len(data), "cpu_seconds": seconds}))
    return ShowerDataset(target, len(data), seconds)


@dataclass(frozen=True)
class GeneratedShowers:
    """Showers a fast model wrote (``showers.h5``) and its time per shower."""

    path: Path
    n_showers: int
    ms_per_shower: float

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.path), "showers": self.n_showers,
                "ms_per_shower": self.ms_per_shower}


def write_generated(out: str | Path, kind: str, generate: Callable[[np.ndarray], np.ndarray],
                    layout: CaloLayout, n_showers: int, seed: int, config: dict[str, Any],
                    inputs: list[Path], extra_outputs: tuple[Path, ...] = ()
                    ) -> GeneratedShowers:
    """Generate ``n_showers`` (incident energies log-uniform in the layout's range) with
    ``generate(energies_mev)``, write ``out/showers.h5`` and the manifest of a ``kind``
    command (the caller has claimed ``out``); ``extra_outputs`` are listed in it too."""
    from aihep._atomic import ensure_writable_dir
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    energies = incident_energies(layout, seed, 0, n_showers)
    start = time.perf_counter()
    showers = generate(energies)
    seconds = time.perf_counter() - start
    directory = ensure_writable_dir(out)
    target = write_showers(ShowerSet(energies, showers), Path(directory) / "showers.h5")
    write_manifest(directory, build_manifest(
        kind, config=config, seed=seed, inputs=[file_entry(p) for p in inputs],
        outputs=[file_entry(p, directory) for p in (target, *extra_outputs)]))
    return GeneratedShowers(target, n_showers, 1e3 * seconds / max(n_showers, 1))
