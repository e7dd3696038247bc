"""The one chunked-dataset engine: plan, per-chunk seeds, key check, resume, executor.

A dataset is built from chunks. A task supplies only

* ``make(job) -> (writer, meta)``: build chunk ``job.index`` of stream ``job.stream`` from
  the task's configuration (``job.config_json``) and the master seed (``job.seed``; the chunk
  derives its own seeds from (seed, stream, index) with :mod:`aihep.workflow.seeds`, so its
  content does not depend on the number of workers or on the engine); ``writer(path)``
  writes the chunk's data, ``meta`` is its small bookkeeping;
* ``plan(done) -> [ChunkJob]``: the next wave of chunks given the completed ones (empty when
  the dataset is complete). A fixed-size dataset plans every chunk at once; a dataset whose
  yield is known only after some chunks (a selection efficiency, class balance) plans in
  waves.

The engine binds the chunk directory to the configuration key (``key.json``: a directory
holding chunks of another configuration is refused), writes each chunk atomically and then
its bookkeeping ``<chunk>.json`` (with the data's SHA-256: the chunk is complete only then),
re-uses complete intact chunks of the same key when a run is repeated (resume), and runs the
waves on any :mod:`aihep.workflow.executor`. Chunks are ``<stream>-<index:06d><suffix>``
(Parquet unless the task says otherwise).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep._atomic import ensure_writable_dir, write_atomic, write_json_atomic
from aihep.errors import ConfigError

KEY_FILE = "key.json"

Writer = Callable[[Path], object]
"""Writes a chunk's data to the (temporary) path it is given."""


@dataclass(frozen=True)
class ChunkJob:
    """One unit of work: chunk ``index`` of ``stream`` (``size`` events asked for)."""

    directory: str
    stream: str
    index: int
    size: int
    seed: int
    config_json: str
    suffix: str = ".parquet"

    @property
    def path(self) -> Path:
        return chunk_path(self.directory, self.stream, self.index, self.suffix)


MakeChunk = Callable[[ChunkJob], tuple[Writer, dict[str, Any]]]
Plan = Callable[[dict[tuple[str, int], dict[str, Any]]], list[ChunkJob]]


def chunk_path(directory: str | Path, stream: str, index: int, suffix: str = ".parquet"
               ) -> Path:
    """Data file of chunk ``index`` of ``stream`` (its bookkeeping: same name, ``.json``)."""
    return Path(directory) / f"{stream}-{index:06d}{suffix}"


def write_chunk(path: str | Path, writer: Writer, meta: dict[str, Any]) -> dict[str, Any]:
    """Atomically write a chunk's data, then its bookkeeping (which marks it complete)."""
    from aihep.workflow.manifest import sha256_file

    path = Path(path)
    write_atomic(path, writer)
    meta = {**meta, "sha256": sha256_file(path)}
    write_json_atomic(path.with_suffix(".json"), meta)
    return meta


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """A complete chunk's bookkeeping, or None when the chunk is missing or incomplete."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def intact(path: str | Path, meta: dict[str, Any]) -> bool:
    """Whether a chunk still has the bytes it was written with (chunks of older versions
    without a SHA-256 must at least open as Parquet)."""
    import pyarrow.parquet as pq

    from aihep.workflow.manifest import sha256_file

    if "sha256" in meta:
        return sha256_file(path) == meta["sha256"]
    try:
        pq.read_metadata(path)
    except Exception:  # truncated or garbage: pyarrow raises ArrowInvalid, OSError...
        return False
    return True


class ChunkStore:
    """The chunks of one dataset: a directory bound to one configuration key."""

    def __init__(self, directory: str | Path, key: str, bind: bool = True,
                 suffix: str = ".parquet") -> None:
        self.directory = Path(directory)
        self.key = key
        self.suffix = suffix
        if bind:
            self.bind()

    def bind(self) -> None:
        """Refuse a directory holding chunks of another configuration, then claim it."""
        key_file = self.directory / KEY_FILE
        if key_file.is_file() and key_file.read_text() != self.key:
            msg = (f"{self.directory} holds chunks of another configuration; resume with the "
                   "same options, use another --out, or delete it")
            raise ConfigError(msg)
        ensure_writable_dir(self.directory)
        write_atomic(key_file, lambda p: p.write_text(self.key))

    def job(self, stream: str, index: int, size: int, seed: int, config_json: str
            ) -> ChunkJob:
        return ChunkJob(str(self.directory), stream, index, size, seed, config_json,
                        self.suffix)

    def completed(self) -> dict[tuple[str, int], dict[str, Any]]:
        """Complete, intact chunks of this key (a damaged or cut-short chunk is made again)."""
        done: dict[tuple[str, int], dict[str, Any]] = {}
        if not self.directory.is_dir():
            return done
        for meta_path in sorted(self.directory.glob("*-[0-9][0-9][0-9][0-9][0-9][0-9].json")):
            stream, index = meta_path.stem.rsplit("-", 1)
            path = chunk_path(self.directory, stream, int(index), self.suffix)
            meta = read_meta(path)
            if (meta and meta.get("chunk_key") == self.key and not meta.get("truncated_from")
                    and intact(path, meta)):
                done[(stream, int(index))] = meta
        return done


def _make_and_write(item: tuple[MakeChunk, ChunkJob, str]) -> dict[str, Any]:
    """Worker entry point: build one chunk and write it (data, then bookkeeping)."""
    make, job, key = item
    writer, meta = make(job)
    start = time.perf_counter()
    meta = {**meta, "stream": job.stream, "index": job.index, "chunk_key": key,
            "n_requested": job.size}
    meta = write_chunk(job.path, writer, meta)
    return {**meta, "write_seconds": time.perf_counter() - start}


def run_waves(store: ChunkStore, engine: Any, make: MakeChunk, plan: Plan,
              done: dict[tuple[str, int], dict[str, Any]] | None = None,
              on_chunk: Callable[[dict[tuple[str, int], dict[str, Any]]], None] | None = None
              ) -> dict[tuple[str, int], dict[str, Any]]:
    """Plan and run waves of chunks until ``plan`` asks for none; returns every chunk's
    bookkeeping by (stream, index). ``done`` defaults to the store's complete chunks
    (resume); ``on_chunk(done)`` is called after each chunk (progress)."""
    done = store.completed() if done is None else done
    if on_chunk is not None:
        on_chunk(done)
    while wave := plan(done):
        for meta in _run(engine, make, wave, store.key):
            done[(meta["stream"], meta["index"])] = meta
            if on_chunk is not None:
                on_chunk(done)
    return done


def _run(engine: Any, make: MakeChunk, wave: list[ChunkJob], key: str
         ) -> Iterator[dict[str, Any]]:
    yield from engine.map_unordered(_make_and_write, [(make, job, key) for job in wave])


def open_chunked_dataset(out: str | Path, kind: str, config: Any, force: bool, workers: int,
                         suffix: str = ".npz") -> tuple[Path, ChunkStore, Any]:
    """Claim ``out`` for a dataset command of ``kind`` and open its chunk store, keyed by the
    pydantic ``config`` without ``n_events`` (asking for more events resumes and extends),
    plus an executor of ``workers`` processes (serial for one; the caller closes it)."""
    from aihep.workflow.executor import ExecutorConfig, make_executor
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(out, kind, force, strict=False)
    directory = ensure_writable_dir(out)
    key = json.dumps(config.model_dump(mode="json", exclude={"n_events"}), sort_keys=True)
    store = ChunkStore(directory / "chunks", key, suffix=suffix)
    engine = make_executor(ExecutorConfig(kind="local" if workers > 1 else "serial",
                                          workers=workers))
    return directory, store, engine
