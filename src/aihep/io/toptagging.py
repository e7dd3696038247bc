"""Top Tagging landscape HDF5 files (Kasieczka, Plehn et al. 2019): read and write.

Layout: a pandas table (key ``table``) with one row per jet and columns ``E_i``, ``PX_i``,
``PY_i``, ``PZ_i`` (GeV) for constituents i = 0..199 ordered by pT, zero-padded, and
``is_signal_new`` (1 = top, 0 = QCD); ``truthE``/``truthPX``... and ``ttv`` may be present.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from aihep._atomic import write_atomic
from aihep.errors import InputError
from aihep.io.jets import JetSet, drop_empty_jets, from_arrays

CLASSES = ("QCD", "Top")
KEY = "table"
N_CONSTITUENTS = 200


def read_top_tagging(path: str | Path, max_jets: int | None = None,
                     drop_empty: bool = False) -> JetSet:
    """Read a Top Tagging landscape file into a jet set (classes QCD, Top).

    Raises:
        InputError: missing file or key, missing E/PX/PY/PZ or is_signal_new columns, no jets.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing Top Tagging HDF5 file")
    try:
        frame = pd.read_hdf(path, key=KEY, stop=max_jets)  # fixed and table formats
    except KeyError:
        raise InputError(path, KEY, f"a pandas table under the key '{KEY}'") from None
    except Exception as error:  # truncated or garbage HDF5: PyTables/h5py errors of many types
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise InputError(path, "file", f"a complete pandas HDF5 file ({type(error).__name__}"
                         f"{': ' + first if first else ''})") from None
    n_const = sum(1 for c in frame.columns if str(c).startswith("E_"))
    needed = [f"{v}_{i}" for i in range(max(n_const, 1)) for v in ("E", "PX", "PY", "PZ")]
    missing = [c for c in [*needed, "is_signal_new"] if c not in frame.columns]
    if missing:
        raise InputError(path, ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
                         "columns E_i, PX_i, PY_i, PZ_i per constituent and is_signal_new")
    if len(frame) == 0:
        raise InputError(path, KEY, "at least one jet (the table is empty)")
    four = {v: frame[[f"{v}_{i}" for i in range(n_const)]].to_numpy(np.float64)
            for v in ("E", "PX", "PY", "PZ")}
    real = four["E"] > 0
    counts = real.sum(1)
    parts = {name: ak.unflatten(four[v][real], counts) for name, v in (
        ("part_px", "PX"), ("part_py", "PY"), ("part_pz", "PZ"), ("part_energy", "E"))}
    px, py, pz, e = (np.where(real, four[v], 0).sum(1) for v in ("PX", "PY", "PZ", "E"))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1)), 0.0)
    jets = {"jet_pt": pt, "jet_eta": eta, "jet_phi": np.arctan2(py, px), "jet_energy": e}
    labels = frame["is_signal_new"].to_numpy().astype(np.int64)
    if not np.isin(labels, (0, 1)).all():
        raise InputError(path, "is_signal_new", "0 (QCD) or 1 (top)")
    out = from_arrays(parts, jets, labels, CLASSES, str(path))
    return drop_empty_jets(out)[0] if drop_empty else out


def write_top_tagging(jets: JetSet, path: str | Path, n_constituents: int = N_CONSTITUENTS,
                      ) -> Path:
    """Write a two-class set (index 1 = signal) in the Top Tagging layout (pT-ordered)."""
    import pandas as pd

    t = jets.table
    order = ak.argsort(np.hypot(t["part_px"], t["part_py"]), axis=1, ascending=False)
    columns = {}
    for v, f in (("E", "part_energy"), ("PX", "part_px"), ("PY", "part_py"), ("PZ", "part_pz")):
        padded = ak.to_numpy(ak.fill_none(ak.pad_none(t[f][order], n_constituents, clip=True),
                                          0.0)).astype(np.float32)
        columns.update({f"{v}_{i}": padded[:, i] for i in range(n_constituents)})
    frame = pd.DataFrame(columns)
    frame["is_signal_new"] = jets.labels
    frame = frame[[f"{v}_{i}" for i in range(n_constituents) for v in ("E", "PX", "PY", "PZ")]
                  + ["is_signal_new"]]

    def write(tmp: Path) -> None:
        frame.to_hdf(tmp, key=KEY, mode="w")

    return write_atomic(Path(path), write)
