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

from aihep.errors import InputError
from aihep.workflow.chunks import chunk_path
from aihep.workflow.manifest import MANIFEST_NAME

EVENTS_DIR = "events"


def chunk_paths(directory: str | Path, index: int) -> tuple[Path, Path]:
    """(parquet, json) paths of chunk ``index`` (the chunk engine's layout, stream "chunk")."""
    data = chunk_path(Path(directory) / EVENTS_DIR, "chunk", index)
    return data, data.with_suffix(".json")


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
