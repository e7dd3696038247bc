"""Read a jet file by its type into a :class:`~aihep.io.jets.JetSet`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aihep.errors import InputError
from aihep.io.jetclass import read_jetclass
from aihep.io.jets import JetSet, load_jets
from aihep.io.toptagging import read_top_tagging


def read_jets(path: str | Path, max_jets: int | None = None) -> JetSet:
    """Read jets by file type: ``.parquet`` (aihep), ``.root`` (JetClass), ``.h5``/``.hdf5``
    (Top Tagging landscape)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        jets = load_jets(path)
        return jets.take(np.arange(min(max_jets, len(jets)))) if max_jets else jets
    if suffix == ".root":
        return read_jetclass(path, max_jets)
    if suffix in (".h5", ".hdf5"):
        return read_top_tagging(path, max_jets)
    raise InputError(path, "file type", ".parquet (aihep), .root (JetClass) or .h5 (Top "
                     "Tagging landscape)")
