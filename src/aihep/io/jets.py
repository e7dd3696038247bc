"""A labelled set of jets with their particles, in JetClass's field names.

The table is an awkward Array with one record per jet: jagged per-particle fields ``part_*``
(``part_px``, ``part_py``, ``part_pz``, ``part_energy`` in GeV are required; ``part_charge``,
the particle-type flags ``part_is*``, impact parameters ``part_d0val``/``part_dzval`` in mm
with their errors are optional), per-jet fields ``jet_*`` (``jet_pt``, ``jet_eta``,
``jet_phi``, ``jet_energy`` required; ``jet_sdmass``, ``jet_tau1..4`` used by the BDT) and
an integer ``label`` indexing ``classes``. Generated sets and every reader produce this form,
so features, models and metrics never depend on where jets came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from aihep._atomic import write_atomic
from aihep.errors import InputError

PARTICLE_REQUIRED = ("part_px", "part_py", "part_pz", "part_energy")
JET_REQUIRED = ("jet_pt", "jet_eta", "jet_phi", "jet_energy")
JETCLASS_CLASSES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
META_KEY = "aihep_jetset"


@dataclass(frozen=True)
class JetSet:
    """Jets, their particles and labels.

    Attributes:
        table: awkward Array of jet records (see the module docstring), length n_jets.
        classes: class names; ``table.label`` indexes them.
        source: where the jets came from (a path or a description), named in errors.
    """

    table: ak.Array
    classes: tuple[str, ...]
    source: str = "jets"

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Class index per jet, shape (n_jets,)."""
        return ak.to_numpy(self.table["label"]).astype(np.int64)

    def fields(self) -> list[str]:
        return list(self.table.fields)

    def take(self, index: np.ndarray) -> JetSet:
        """The jets at ``index`` (integer or boolean array), same classes."""
        return JetSet(self.table[np.asarray(index)], self.classes, self.source)


def check_jets(jets: JetSet, need: tuple[str, ...] = ()) -> JetSet:
    """Validate a set: required fields present, labels in range, finite values, >= 1 particle.

    Raises:
        InputError: naming the source, the field and what was expected.
    """
    fields = set(jets.table.fields)
    for name in (*PARTICLE_REQUIRED, *JET_REQUIRED, "label", *need):
        if name not in fields:
            raise InputError(jets.source, name, "a field of that name (JetClass naming: "
                             "part_px/py/pz/energy, jet_pt/eta/phi/energy, label)")
    labels = jets.labels
    if len(labels) and (labels.min() < 0 or labels.max() >= len(jets.classes)):
        raise InputError(jets.source, "label", f"class indices in [0, {len(jets.classes)})")
    counts = check_particle_counts(jets)
    if np.any(counts == 0):
        first = int(np.flatnonzero(counts == 0)[0])
        raise InputError(jets.source, "part_energy", f"at least one particle per jet; "
                         f"{int((counts == 0).sum())} jets have none (first: jet {first}); "
                         "drop them with drop_empty_jets()")
    for name in jets.table.fields:
        values = jets.table[name]
        flat = ak.to_numpy(ak.flatten(values, axis=None)) if values.ndim > 1 else ak.to_numpy(
            values)
        if flat.dtype.kind == "f" and not np.all(np.isfinite(flat)):
            bad = int((~np.isfinite(flat)).sum())
            raise InputError(jets.source, name, f"finite values; found {bad} NaN/inf")
    return jets


def check_particle_counts(jets: JetSet) -> np.ndarray:
    """Particles per jet, checking every ``part_*`` field has as many as ``part_energy``."""
    counts = ak.to_numpy(ak.num(jets.table["part_energy"], axis=1))
    for name in jets.table.fields:
        if name.startswith("part_") and not np.array_equal(
                ak.to_numpy(ak.num(jets.table[name], axis=1)), counts):
            raise InputError(jets.source, name, "as many entries per jet as part_energy")
    return counts


def drop_empty_jets(jets: JetSet) -> tuple[JetSet, int]:
    """Remove jets without particles; returns the kept set and how many were dropped."""
    counts = ak.to_numpy(ak.num(jets.table["part_energy"], axis=1))
    keep = counts > 0
    return jets.take(keep), int((~keep).sum())


def from_arrays(particles: dict[str, Any], jet_fields: dict[str, np.ndarray],
                labels: np.ndarray, classes: tuple[str, ...], source: str = "jets") -> JetSet:
    """Build a set from jagged particle fields (lists or awkward) and flat jet fields."""
    record = {k: ak.Array(v) for k, v in particles.items()}
    record.update({k: np.asarray(v) for k, v in jet_fields.items()})
    record["label"] = np.asarray(labels, dtype=np.int64)
    return JetSet(ak.zip(record, depth_limit=1), tuple(classes), source)


def save_jets(jets: JetSet, path: str | Path) -> Path:
    """Write a set to Parquet (atomically); the class names go in the file's metadata."""
    meta = json.dumps({"classes": list(jets.classes)})

    def write(tmp: Path) -> None:
        import pyarrow.parquet as pq

        table = ak.to_arrow_table(jets.table)
        merged = {**(table.schema.metadata or {}), META_KEY.encode(): meta.encode()}
        pq.write_table(table.replace_schema_metadata(merged), tmp)

    return write_atomic(path, write)


def load_jets(path: str | Path) -> JetSet:
    """Read a set written by :func:`save_jets`.

    Raises:
        InputError: the file is missing, not Parquet, or has no class names.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        meta = pq.read_metadata(path).metadata or {}
        table = ak.from_parquet(path)
    except Exception as error:  # truncated Parquet: pyarrow raises ArrowInvalid, OSError...
        raise InputError(path, "file", "a complete Parquet jet set written by aihep ("
                         f"{type(error).__name__}: {str(error).splitlines()[0][:160]})"
                         ) from None
    raw = meta.get(META_KEY.encode())
    if raw is None:
        raise InputError(path, "metadata", f"'{META_KEY}' with the class names (a file "
                         "written by aihep tag dataset)")
    return JetSet(table, tuple(json.loads(raw)["classes"]), str(path))
