"""The aihep event store: a directory of Parquet chunk files (awkward records) + manifest.

Layout::

    DIR/manifest.json               what, how, seed, versions, counts, file hashes
    DIR/events/chunk-000000.parquet events of chunk 0 (event, jet, constituent fields)
    DIR/events/chunk-000000.json    chunk bookkeeping (seed, generated/kept counts, timings)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak

from aihep._atomic import write_atomic, write_json_atomic
from aihep.errors import InputError
from aihep.workflow.manifest import MANIFEST_NAME

EVENTS_DIR = "events"


def chunk_paths(directory: str | Path, index: int) -> tuple[Path, Path]:
    """(parquet, json) paths of chunk ``index``."""
    base = Path(directory) / EVENTS_DIR / f"chunk-{index:06d}"
    return base.with_suffix(".parquet"), base.with_suffix(".json")


def write_chunk(directory: str | Path, index: int, events: ak.Array, meta: dict[str, Any]) -> None:
    """Atomically write a chunk's events, then its bookkeeping (which marks it complete)."""
    from aihep.workflow.manifest import sha256_file

    data_path, meta_path = chunk_paths(directory, index)
    write_atomic(data_path, lambda p: ak.to_parquet(ak.to_packed(events), p, compression="zstd"))
    write_json_atomic(meta_path, {**meta, "sha256": sha256_file(data_path)})


def chunk_intact(directory: str | Path, index: int, meta: dict[str, Any]) -> bool:
    """Whether chunk ``index`` still has the bytes it was written with (SHA-256 in its
    bookkeeping; chunks of older versions without one must at least open as Parquet)."""
    import pyarrow.parquet as pq

    from aihep.workflow.manifest import sha256_file

    data_path = chunk_paths(directory, index)[0]
    if "sha256" in meta:
        return sha256_file(data_path) == meta["sha256"]
    try:
        pq.read_metadata(data_path)
    except Exception:  # truncated or garbage: pyarrow raises ArrowInvalid, OSError...
        return False
    return True


def read_chunk_meta(directory: str | Path, index: int) -> dict[str, Any] | None:
    """A complete chunk's bookkeeping, or None when the chunk is missing or incomplete."""
    data_path, meta_path = chunk_paths(directory, index)
    if not (data_path.exists() and meta_path.exists()):
        return None
    try:
        return json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a dataset directory.

    Raises:
        InputError: when there is no readable manifest (not an aihep dataset, or unfinished).
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        raise InputError(path, "manifest", "an aihep dataset directory with manifest.json "
                         "(missing: not a dataset, or a run that did not finish)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno}", "valid JSON") from None


def read_events(directory: str | Path) -> ak.Array:
    """All events of an aihep event store, in chunk order (as listed in the manifest)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    files = [directory / entry["path"] for entry in manifest["outputs"]
             if entry["path"].endswith(".parquet")]
    if not files:
        return ak.Array([])
    missing = [f for f in files if not f.exists()]
    if missing:
        raise InputError(missing[0], "file", "the chunk file listed in the manifest")
    return ak.concatenate([ak.from_parquet(f) for f in files])
