"""Summaries of any dataset aihep can read: event stores, LHCO directories and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aihep.errors import InputError
from aihep.workflow.manifest import check_outputs


def _stats(values: np.ndarray) -> dict[str, float]:
    """Mean, min, median, max of the finite values; NaN and +-inf are counted, not hidden."""
    finite = values[np.isfinite(values)]
    out: dict[str, float] = {"n": len(finite)}
    if len(finite):
        out.update(mean=float(finite.mean()), min=float(finite.min()),
                   median=float(np.median(finite)), max=float(finite.max()))
    n_nan, n_inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    if n_nan or n_inf:
        out.update(nan=n_nan, inf=n_inf)
    return out


def _feature_summary(features: dict[str, np.ndarray], labels: np.ndarray | None,
                     truth: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"n_events": len(next(iter(features.values())))}
    if labels is not None and truth:
        values, counts = np.unique(labels, return_counts=True)
        out["labels"] = {int(v): int(c) for v, c in zip(values, counts, strict=True)}
    out["features"] = {k: _stats(np.asarray(v, dtype=float)) for k, v in features.items()
                       if k not in ("index", "label", "event_id")}
    return out


def describe(path: str | Path, check: bool = False, truth: bool = True) -> dict[str, Any]:
    """Summarize a dataset: what it is, how it was made, counts and feature ranges.

    Accepts an aihep event-store or LHCO directory, a feature Parquet file, an LHCO HDF5 file
    (hadrons or features) or a feature CSV. With ``check``, every file an aihep directory's
    manifest lists is re-hashed (``check`` in the summary). Without ``truth`` (what an agent's
    planner sees), label counts and injected-signal counts are left out: real data have none.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "path", "an existing dataset directory or file")
    if path.is_dir():
        manifest_path = path / "manifest.json"
        if not manifest_path.exists():
            run_state = path / "run.json"
            hint = (" (an unfinished generation: re-run the same command to resume)"
                    if run_state.exists() else "")
            raise InputError(path, "manifest.json", "an aihep dataset directory" + hint)
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(manifest_path, "file", "a JSON manifest") from None
        if not isinstance(manifest, dict):
            raise InputError(manifest_path, "top level", "a JSON object")
        if check:
            return {"path": str(path), "kind": manifest.get("kind"),
                    "check": check_outputs(path, manifest)}
        summary: dict[str, Any] = {"path": str(path), "kind": manifest.get("kind"),
                                   "seed": manifest.get("seed"),
                                   "created_utc": manifest.get("created_utc"),
                                   "counts": manifest.get("counts") if truth else {
                                       k: v for k, v in (manifest.get("counts") or {}).items()
                                       if "signal" not in k},
                                   "versions": manifest.get("versions")}
        if manifest.get("kind") == "aihep.events":
            summary["process"] = manifest.get("process", {}).get("name")
            summary["params"] = manifest.get("process", {}).get("params")
        if (path / "data.parquet").exists():
            from aihep.events.lhco import read_feature_table

            data = read_feature_table(path / "data.parquet")
            summary["data"] = _feature_summary(data, data.get("label"), truth)
        return summary
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        from aihep.events.lhco import read_feature_table

        table = read_feature_table(path)
        return {"path": str(path), "kind": "feature table", **_feature_summary(
            table, table.get("label"), truth)}
    if suffix in (".h5", ".hdf5"):
        from aihep.io import lhco

        if path.name.endswith("features.h5"):
            from aihep.events.lhco import read_lhco_features_h5

            features, labels = read_lhco_features_h5(path)
            return {"path": str(path), "kind": "LHCO features HDF5",
                    **_feature_summary(features, labels, truth)}
        particles, labels = lhco.read_lhco_events(path)
        import awkward as ak

        n = ak.to_numpy(ak.num(particles, axis=1))
        out = {"path": str(path), "kind": "LHCO hadrons HDF5", "n_events": len(n),
               "hadrons_per_event": _stats(n.astype(float))}
        if truth:
            out["labels"] = {int(v): int(c) for v, c in zip(
                *np.unique(labels, return_counts=True), strict=True)}
        return out
    if suffix == ".csv":
        from aihep.io.lhco import read_feature_csv

        features, _ = read_feature_csv(path)
        return {"path": str(path), "kind": "LHCO feature CSV", **_feature_summary(features, None)}
    raise InputError(path, "suffix", "a directory, .parquet, .h5/.hdf5 or .csv")
