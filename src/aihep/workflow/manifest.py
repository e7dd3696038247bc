"""Run manifests: what went in (inputs with hashes, config, seed), what came out, with versions.

Every output directory of aihep holds a ``manifest.json`` written by :func:`write_manifest`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import platform
import sys
from pathlib import Path
from typing import Any

from aihep import __version__
from aihep.io.atomic import write_json_atomic

MANIFEST_NAME = "manifest.json"
TRACKED_PACKAGES = ("pythia8mc", "fastjet", "awkward", "numpy", "pyarrow", "vector", "h5py",
                    "pandas", "dask", "distributed", "torch")


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape results (missing ones are skipped)."""
    out = {"aihep": __version__, "python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def file_entry(path: str | Path, root: str | Path | None = None, **extra: Any) -> dict[str, Any]:
    """Describe a file for a manifest: relative path, size, SHA-256 and any extra fields."""
    path = Path(path)
    rel = str(path.relative_to(root)) if root is not None else str(path)
    return {"path": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path), **extra}


def build_manifest(
    kind: str,
    *,
    config: dict[str, Any],
    seed: int,
    outputs: list[dict[str, Any]],
    inputs: list[dict[str, Any]] | None = None,
    counts: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a manifest dictionary (see module docstring)."""
    return {
        "kind": kind,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "config": config,
        "inputs": inputs or [],
        "outputs": outputs,
        "counts": counts or {},
        "versions": package_versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(),
                     "python": platform.python_implementation()},
        **(extra or {}),
    }


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Atomically write ``manifest.json`` into ``directory``."""
    return write_json_atomic(Path(directory) / MANIFEST_NAME, manifest)
