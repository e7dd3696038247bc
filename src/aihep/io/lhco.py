"""LHC Olympics 2020 formats: the R&D HDF5 files and the feature CSV layout.

* ``events_anomalydetection*.h5``: a pandas table (key ``df``), one row per event, 700 hadrons x
  (pT, eta, phi) zero-padded = 2100 columns, then the label (2101 columns, float64).
* ``events_anomalydetection_v2.features.h5``: columns pxj1 pyj1 pzj1 mj1 tau1j1 tau2j1 tau3j1,
  the same for j2, and label; j1/j2 are pT-ordered, so jets are sorted by mass here.
* The feature CSV: ``index, m_JJ, m_J1, delta_m_J, tau_2_over_tau_1_J1, tau_2_over_tau_1_J2``
  (GeV, J1 = lighter jet) with labels in a separate ``index, label`` CSV. Read by column
  name: any order, the index column optional (rows numbered from 0), other columns ignored.

Both pandas storage formats ("fixed" and "table") are read.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import awkward as ak
import numpy as np

from aihep._atomic import write_atomic
from aihep.errors import InputError

log = logging.getLogger(__name__)

N_HADRONS = 700
CSV_COLUMNS = ("index", "m_JJ", "m_J1", "delta_m_J", "tau_2_over_tau_1_J1",
               "tau_2_over_tau_1_J2")
#: the standard dijet features (CATHODE inputs + mjj), in the order of the CSV columns
FEATURES = ("mjj", "mj1", "delta_mj", "tau21_j1", "tau21_j2")
_CSV_TO_FEATURE = dict(zip(CSV_COLUMNS[1:], FEATURES, strict=True))
FEATURE_H5_COLUMNS = tuple(f"{q}j{i}" for i in (1, 2)
                           for q in ("px", "py", "pz", "m", "tau1", "tau2", "tau3"))


def _read_pandas_hdf(path: Path, start: int | None = None, stop: int | None = None):
    """Read a pandas HDF5 table (fixed or table format) with clear errors."""
    import pandas as pd

    if not path.exists():
        raise InputError(path, "file", "an existing HDF5 file")
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = store.keys()
            if not keys:
                raise InputError(path, "keys", "a pandas DataFrame stored in the file (found none)")
            key = "/df" if "/df" in keys else keys[0]
            return store.select(key, start=start, stop=stop)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(path, "file", f"a readable pandas HDF5 file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None


def read_lhco_events(path: str | Path, start: int | None = None,
                     stop: int | None = None) -> tuple[ak.Array, np.ndarray]:
    """Read an LHCO R&D hadron file.

    Args:
        path: ``events_anomalydetection*.h5``.
        start, stop: row range (events) to read, for files too large for memory.

    Returns:
        (hadrons, labels): events x hadrons with pt (GeV), eta, phi, zero-padding removed,
        pT-ordered as stored; labels (n_events,) int8 (1 = signal), or -1 where the file has
        no label column (black boxes have 2100 columns).
    """
    path = Path(path)
    frame = _read_pandas_hdf(path, start, stop)
    values = frame.to_numpy(dtype=np.float64)
    n_cols = values.shape[1]
    if n_cols not in (3 * N_HADRONS, 3 * N_HADRONS + 1):
        raise InputError(path, "columns", f"{3 * N_HADRONS} hadron columns (700 x pT, eta, phi) "
                         f"plus an optional label, found {n_cols}")
    hadrons = values[:, : 3 * N_HADRONS].reshape(len(values), N_HADRONS, 3)
    if not np.isfinite(hadrons).all():
        raise InputError(path, "hadrons", "finite pT, eta, phi values (found NaN or inf)")
    labels = (values[:, -1].astype(np.int8) if n_cols == 3 * N_HADRONS + 1
              else np.full(len(values), -1, dtype=np.int8))
    real = hadrons[:, :, 0] > 0
    counts = real.sum(axis=1)
    flat = hadrons[real]
    particles = ak.unflatten(ak.zip({"pt": flat[:, 0], "eta": flat[:, 1], "phi": flat[:, 2]}),
                             counts)
    return particles, labels


def write_lhco_events(path: str | Path, particles: ak.Array, labels: np.ndarray | None = None,
                      fmt: str = "fixed") -> Path:
    """Write hadrons (events x particles with pt, eta, phi) in the LHCO R&D layout."""
    import pandas as pd

    n = len(particles)
    table = np.zeros((n, 3 * N_HADRONS + (labels is not None)))
    ordered = particles[ak.argsort(particles.pt, axis=1, ascending=False)][:, :N_HADRONS]
    for j, field in enumerate(("pt", "eta", "phi")):
        column = ak.to_numpy(ak.fill_none(ak.pad_none(ordered[field], N_HADRONS, clip=True), 0.0))
        table[:, j : 3 * N_HADRONS : 3] = column
    if labels is not None:
        table[:, -1] = labels
    frame = pd.DataFrame(table)
    return write_atomic(path, lambda p: frame.to_hdf(p, key="df", format=fmt))


def read_lhco_jets_h5(path: str | Path) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Read the two jets of ``events_anomalydetection_v2.features.h5``.

    Returns:
        (jets, labels): per jet px, py, pz, m (GeV), tau1..3 arrays; labels int8, -1 when
        the file has no ``label`` column. :func:`aihep.events.lhco.read_lhco_features_h5`
        turns them into dijet features.
    """
    path = Path(path)
    frame = _read_pandas_hdf(path)
    missing = [c for c in FEATURE_H5_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, "columns", f"columns {', '.join(FEATURE_H5_COLUMNS)}; missing "
                         f"{', '.join(missing)}")
    jets = []
    for i in (1, 2):
        jet = {q: frame[f"{q}j{i}"].to_numpy(dtype=np.float64)
               for q in ("px", "py", "pz", "tau1", "tau2", "tau3")}
        jet["m"] = frame[f"mj{i}"].to_numpy(dtype=np.float64)
        jets.append(jet)
    labels = (frame["label"].to_numpy().astype(np.int8) if "label" in frame.columns
              else np.full(len(frame), -1, dtype=np.int8))
    return jets, labels


def write_lhco_features_h5(path: str | Path, jets: list[dict[str, np.ndarray]],
                           labels: np.ndarray, fmt: str = "fixed") -> Path:
    """Write two jets' (px, py, pz, m, tau1..3) in the ``*.features.h5`` layout."""
    import pandas as pd

    columns = {f"{q}j{i + 1}": jets[i][q] for i in (0, 1)
               for q in ("px", "py", "pz", "m", "tau1", "tau2", "tau3")}
    frame = pd.DataFrame({**columns, "label": labels.astype(np.float64)})
    return write_atomic(path, lambda p: frame.to_hdf(p, key="df", format=fmt))


def write_feature_csv(path: str | Path, features: dict[str, np.ndarray],
                      index: np.ndarray | None = None) -> Path:
    """Write the standard feature CSV (header + one row per event)."""
    n = len(features["mjj"])
    index = np.arange(n) if index is None else index

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            cols = [features[_CSV_TO_FEATURE[c]] for c in CSV_COLUMNS[1:]]
            for i in range(n):
                writer.writerow([int(index[i]), *(repr(float(c[i])) for c in cols)])

    return write_atomic(path, write)


def write_labels_csv(path: str | Path, labels: np.ndarray, index: np.ndarray | None = None
                     ) -> Path:
    """Write ``index, label`` rows."""
    index = np.arange(len(labels)) if index is None else index

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("index", "label"))
            writer.writerows(zip(index.tolist(), labels.astype(int).tolist(), strict=True))

    return write_atomic(path, write)


def _read_csv_table(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named ``columns`` of a CSV, matched by header name in any order.

    An ``index`` column may be absent (then the rows are numbered from 0) or unnamed (pandas
    writes its index column with an empty name); other columns are ignored, with a warning
    naming them (a truth column in a data file is never read)."""
    if not path.exists():
        raise InputError(path, "file", "an existing CSV file")
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError(path, "header", f"a header row {', '.join(columns)} (file is empty)")
        header = [h.strip() for h in header]
        if header and header[0] == "" and "index" in columns:
            header[0] = "index"  # pandas writes its index column with an empty name
        required = [c for c in columns if c != "index"]
        missing = [c for c in required if c not in header]
        repeated = sorted({c for c in header if header.count(c) > 1 and c in columns})
        if missing or repeated:
            extra = [c for c in header if c not in columns]
            detail = "; ".join(filter(None, [
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra and missing else "",
                f"repeated {', '.join(repeated)}" if repeated else ""]))
            raise InputError(path, "header", f"columns {', '.join(columns)} ({detail})")
        ignored = [c for c in header if c not in columns]
        if ignored:
            log.warning("%s: ignoring columns %s", path, ", ".join(ignored))
        wanted = [c for c in columns if c in header]
        where = [header.index(c) for c in wanted]
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise InputError(path, f"line {line_no}",
                                 f"{len(header)} comma-separated values, found {len(row)}")
            try:
                rows.append([float(row[i]) for i in where])
            except ValueError:
                raise InputError(path, f"line {line_no}", "numeric values") from None
    table = np.array(rows, dtype=np.float64).reshape(-1, len(wanted))
    out = {c: table[:, i] for i, c in enumerate(wanted)}
    if "index" in columns and "index" not in out:
        out["index"] = np.arange(len(table), dtype=np.float64)  # rows numbered in file order
    return out


def check_feature_rows(path: Path, index: np.ndarray, mjj: np.ndarray, mj1: np.ndarray,
                       delta_mj: np.ndarray) -> None:
    """Event indices are unique integers and masses are physical and in GeV (median m_JJ
    between 20 GeV and 20 TeV), else
    :class:`InputError` naming the first bad line (the header is line 1)."""
    def line(i: int) -> str:
        return f"line {int(i) + 2}"

    fractional = np.flatnonzero(~np.isfinite(index) | (index != np.round(index)))
    if len(fractional):
        i = fractional[0]
        raise InputError(path, f"{line(i)}, index", f"an integer event index, got {index[i]!r}")
    values, counts = np.unique(index, return_counts=True)
    if np.any(counts > 1):
        value = values[counts > 1][0]
        rows = np.flatnonzero(index == value)[:2]
        raise InputError(path, "index", f"unique event indices (index {int(value)} is on "
                         f"{line(rows[0])} and {line(rows[1])})")
    for name, values_gev, lowest in (("m_JJ", mjj, "> 0"), ("m_J1", mj1, ">= 0"),
                                     ("m_J1 + delta_m_J", mj1 + delta_mj, ">= 0")):
        bad = values_gev <= 0 if lowest == "> 0" else values_gev < 0
        if np.any(bad):
            i = np.flatnonzero(bad)[0]
            raise InputError(path, f"{line(i)}, {name}", f"a mass {lowest} GeV, got "
                             f"{values_gev[i]:g}")
    finite = mjj[np.isfinite(mjj)]  # NaN rows are counted by `aihep info`, refused by a hunt
    median = float(np.median(finite)) if len(finite) else 1000.0
    if median < 20.0 or median > 20_000.0:  # a dijet mass of collider events, in GeV
        unit = "TeV" if median < 20.0 else "MeV"
        raise InputError(path, "m_JJ", f"masses in GeV (the median m_JJ is {median:.4g}: "
                         f"{unit}? convert to GeV)")


def read_feature_csv(path: str | Path, labels_path: str | Path | None = None
                     ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Read the feature CSV (and optionally its labels CSV, matched on ``index``).

    Returns:
        (features keyed by mjj, mj1, delta_mj, tau21_j1, tau21_j2 plus ``index``; labels or
        None).
    """
    path = Path(path)
    table = _read_csv_table(path, CSV_COLUMNS)
    check_feature_rows(path, table["index"], table["m_JJ"], table["m_J1"], table["delta_m_J"])
    features = {_CSV_TO_FEATURE[c]: table[c] for c in CSV_COLUMNS[1:]}
    features["index"] = table["index"].astype(np.int64)
    if labels_path is None:
        return features, None
    labels_path = Path(labels_path)
    lab = _read_csv_table(labels_path, ("index", "label"))
    lab_index = lab["index"].astype(np.int64)
    order, data_order = np.argsort(lab_index, kind="stable"), np.argsort(features["index"],
                                                                         kind="stable")
    if len(lab_index) != len(features["index"]) or not np.array_equal(
            lab_index[order], features["index"][data_order]):
        raise InputError(labels_path, "index", f"the same event indices as {path.name}")
    labels = np.empty(len(lab_index), np.int8)
    labels[data_order] = lab["label"][order].astype(np.int8)  # matched on index, any order
    return features, labels
