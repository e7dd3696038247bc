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
from aihep._atomic import write_json_atomic

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


def claim_output_dir(directory: str | Path, kind: str, force: bool = False,
                     allowed: tuple[str, ...] = (), strict: bool = True) -> Path:
    """Check that ``directory`` may receive the results of a ``kind`` command.

    Refused (:class:`~aihep.errors.OutputError`, before anything is written) unless ``force``:
    a file; a directory whose manifest says another command wrote it (a dataset, a model
    run...); a non-empty directory with no aihep manifest (not ours to fill). A directory of
    the same kind is re-used (re-running a command updates its own results); names in
    ``allowed`` (e.g. the chunk folder of a resumable run) do not count as foreign. With
    ``strict`` False, a directory without a manifest is accepted (a resumable run's state).
    """
    import json

    from aihep.errors import OutputError

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        msg = f"{directory}: is a file; the output must be a directory"
        raise OutputError(msg)
    if force or not directory.is_dir():
        return directory
    manifest = directory / MANIFEST_NAME
    hint = "choose another --out or pass --force to write into it anyway"
    if manifest.is_file():
        try:
            found = json.loads(manifest.read_text()).get("kind")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            found = "unreadable"
        if found != kind:
            msg = (f"{directory}: holds the results of another command (manifest kind "
                   f"'{found}', this is '{kind}'); {hint}")
            raise OutputError(msg)
        return directory
    foreign = [p.name for p in directory.iterdir() if p.name not in allowed]
    if foreign and strict:
        msg = (f"{directory}: not empty ({', '.join(sorted(foreign)[:3])}"
               f"{', ...' if len(foreign) > 3 else ''}) and holds no aihep results; {hint}")
        raise OutputError(msg)
    return directory


def check_outputs(directory: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Re-hash every output file listed in a manifest: ``ok``, files checked, problems."""
    directory = Path(directory)
    problems, outputs = [], manifest.get("outputs") or []
    for entry in outputs:
        if not isinstance(entry, dict) or "path" not in entry or "sha256" not in entry:
            problems.append(f"malformed output entry {entry!r:.80}")
            continue
        path = directory / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 differs from the manifest (changed "
                            "or truncated)")
    return {"ok": not problems, "files": len(outputs), "problems": problems}
