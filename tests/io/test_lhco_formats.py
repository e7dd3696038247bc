"""LHC Olympics readers on tiny files written in the published layouts."""

from __future__ import annotations

import re

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from aihep.errors import InputError
from aihep.events.lhco import read_lhco_features_h5
from aihep.io import lhco


def _hadrons(n_events: int, rng: np.random.Generator) -> tuple[ak.Array, np.ndarray]:
    counts = rng.integers(5, 40, n_events)
    n = counts.sum()
    flat = ak.zip({"pt": rng.exponential(20.0, n) + 0.5, "eta": rng.normal(0, 1.5, n),
                   "phi": rng.uniform(-np.pi, np.pi, n)})
    particles = ak.unflatten(flat, counts)
    return particles[ak.argsort(particles.pt, axis=1, ascending=False)], rng.integers(0, 2,
                                                                                       n_events)


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_hadron_file_round_trip(tmp_path, fmt):
    particles, labels = _hadrons(25, np.random.default_rng(1))
    path = tmp_path / "events_anomalydetection_tiny.h5"
    lhco.write_lhco_events(path, particles, labels, fmt=fmt)
    frame = pd.read_hdf(path)  # the published layout: 2100 + 1 float columns
    assert frame.shape == (25, 2101)
    read, read_labels = lhco.read_lhco_events(path)
    np.testing.assert_array_equal(read_labels, labels)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(read.pt)),
                               ak.to_numpy(ak.flatten(particles.pt)))
    assert ak.all(ak.num(read, axis=1) == ak.num(particles, axis=1))
    part, _ = lhco.read_lhco_events(path, start=5, stop=10)
    assert len(part) == 5


def test_features_file_sorts_jets_by_mass(tmp_path):
    # j1 is the pT-leading jet; here it is the heavier one in event 0 and the lighter in 1.
    j1 = {"px": np.array([1500.0, 1400.0]), "py": np.array([0.0, 0.0]),
          "pz": np.array([100.0, -50.0]), "m": np.array([480.0, 90.0]),
          "tau1": np.array([0.4, 0.5]), "tau2": np.array([0.1, 0.4]),
          "tau3": np.array([0.05, 0.3])}
    j2 = {"px": np.array([-1400.0, -1300.0]), "py": np.array([10.0, 0.0]),
          "pz": np.array([0.0, 300.0]), "m": np.array([105.0, 300.0]),
          "tau1": np.array([0.3, 0.2]), "tau2": np.array([0.2, 0.05]),
          "tau3": np.array([0.1, 0.04])}
    path = tmp_path / "events_anomalydetection_v2.features.h5"
    lhco.write_lhco_features_h5(path, [j1, j2], np.array([1, 0]))
    feats, labels = read_lhco_features_h5(path)
    np.testing.assert_array_equal(labels, [1, 0])
    np.testing.assert_allclose(feats["mj1"], [105.0, 90.0])
    np.testing.assert_allclose(feats["delta_mj"], [480.0 - 105.0, 300.0 - 90.0])
    np.testing.assert_allclose(feats["tau21_j1"], [0.2 / 0.3, 0.4 / 0.5])
    np.testing.assert_allclose(feats["tau21_j2"], [0.1 / 0.4, 0.05 / 0.2])
    e1 = np.sqrt(1500**2 + 100**2 + 480**2)
    e2 = np.sqrt(1400**2 + 10**2 + 105**2)
    mjj0 = np.sqrt((e1 + e2) ** 2 - 100**2 - 10**2 - 100**2)
    assert feats["mjj"][0] == pytest.approx(mjj0)


def test_feature_csv_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    feats = {k: rng.uniform(0, 1, 12) for k in ("mjj", "mj1", "delta_mj", "tau21_j1",
                                                "tau21_j2")}
    feats["mjj"] = 3000 * (1 + feats["mjj"])  # GeV
    labels = rng.integers(0, 2, 12)
    lhco.write_feature_csv(tmp_path / "data.csv", feats)
    lhco.write_labels_csv(tmp_path / "labels.csv", labels)
    assert (tmp_path / "data.csv").read_text().splitlines()[0] == (
        "index,m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2")
    read, read_labels = lhco.read_feature_csv(tmp_path / "data.csv", tmp_path / "labels.csv")
    for key, values in feats.items():
        np.testing.assert_allclose(read[key], values)
    np.testing.assert_array_equal(read_labels, labels)


def test_csv_with_wrong_columns_names_them(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("index,mjj,m_J1\n0,1,2\n")
    with pytest.raises(InputError, match=r"bad.csv: header: .*missing m_JJ.*unexpected mjj"):
        lhco.read_feature_csv(path)


def test_csv_columns_are_read_by_name(tmp_path, caplog):
    """Any column order, no index column (rows numbered from 0), extra columns ignored."""
    rng = np.random.default_rng(4)
    feats = {k: rng.uniform(1, 2, 5) for k in ("mjj", "mj1", "delta_mj", "tau21_j1",
                                               "tau21_j2")}
    feats["mjj"] *= 3000  # GeV
    lhco.write_feature_csv(tmp_path / "data.csv", feats)
    lines = [line.split(",") for line in (tmp_path / "data.csv").read_text().splitlines()]
    order = [5, 3, 1, 4, 2]  # no index (column 0), shuffled, and a truth column appended
    (tmp_path / "other.csv").write_text("\n".join(
        ",".join([row[i] for i in order] + ["label" if n == 0 else "1"])
        for n, row in enumerate(lines)) + "\n")
    read, _ = lhco.read_feature_csv(tmp_path / "other.csv")
    for key, values in feats.items():
        np.testing.assert_allclose(read[key], values)
    np.testing.assert_array_equal(read["index"], np.arange(5))
    assert "ignoring columns label" in caplog.text


def test_csv_with_a_repeated_column_is_refused(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text(",".join(lhco.CSV_COLUMNS) + ",m_JJ\n0,1,2,3,4,5,6\n")
    with pytest.raises(InputError, match=r"twice\.csv: header: .*repeated m_JJ"):
        lhco.read_feature_csv(path)


@pytest.mark.parametrize(("scale", "unit"), [(1e-3, "TeV"), (1e3, "MeV")])
def test_csv_masses_not_in_gev_are_refused(tmp_path, scale, unit):
    path = tmp_path / "units.csv"
    rows = "".join(f"{i},{(3000 + 10 * i) * scale},{100 * scale},{50 * scale},0.5,0.5\n"
                   for i in range(5)) + "5,nan,1,1,0.5,0.5\n"  # a NaN does not hide the unit
    path.write_text(",".join(lhco.CSV_COLUMNS) + "\n" + rows)
    with pytest.raises(InputError, match=f"units.csv: m_JJ: expected masses in GeV .*{unit}"):
        lhco.read_feature_csv(path)


def test_csv_with_text_value_names_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(lhco.CSV_COLUMNS) + "\n0,1,2,3,4,5\n1,1,two,3,4,5\n")
    with pytest.raises(InputError, match="line 3: expected numeric values"):
        lhco.read_feature_csv(path)


def test_truncated_hdf5_is_a_clear_error(tmp_path):
    particles, labels = _hadrons(10, np.random.default_rng(2))
    good = tmp_path / "good.h5"
    lhco.write_lhco_events(good, particles, labels)
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(InputError, match=r"truncated\.h5: file: expected a readable pandas HDF5"):
        lhco.read_lhco_events(bad)


def test_hadron_file_with_wrong_width(tmp_path):
    path = tmp_path / "narrow.h5"
    pd.DataFrame(np.zeros((3, 10))).to_hdf(path, key="df")
    with pytest.raises(InputError, match="columns: expected 2100 hadron columns"):
        lhco.read_lhco_events(path)


def test_features_file_missing_columns(tmp_path):
    path = tmp_path / "x.features.h5"
    pd.DataFrame({"pxj1": [1.0], "label": [0.0]}).to_hdf(path, key="df")
    with pytest.raises(InputError, match="missing pyj1"):
        read_lhco_features_h5(path)


HEADER = ",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"


@pytest.mark.parametrize(("rows", "field", "expected"), [
    ("0,3000,100,50,0.5,0.5\n0,3100,90,40,0.4,0.6\n", "index", "index 0 is on line 2 and line 3"),
    ("0,3000,100,50,0.5,0.5\n1.5,3100,90,40,0.4,0.6\n", "line 3, index", "integer event index"),
    ("0,3000,-100,50,0.5,0.5\n", "line 2, m_J1", "a mass >= 0 GeV, got -100"),
    ("0,-3000,100,50,0.5,0.5\n", "line 2, m_JJ", "a mass > 0 GeV"),
    ("0,3000,100,-150,0.5,0.5\n", "line 2, m_J1 + delta_m_J", "a mass >= 0 GeV, got -50"),
])
def test_csv_rows_that_cannot_be_events_are_refused(tmp_path, rows, field, expected):
    """Duplicate or fractional indices and negative masses were accepted silently (scores.csv
    then held one index twice and missed another)."""
    path = tmp_path / "data.csv"
    path.write_text(HEADER + rows)
    with pytest.raises(InputError, match=re.escape(f"{field}: expected ") + ".*"
                       + re.escape(expected)):
        lhco.read_feature_csv(path)


def test_info_counts_nan_and_inf_instead_of_hiding_them(tmp_path):
    from aihep.events.inspect import describe

    path = tmp_path / "data.csv"
    path.write_text(HEADER + "0,3000,100,50,nan,0.5\n1,3100,90,40,inf,0.6\n2,3200,80,30,0.4,0.7\n")
    stats = describe(path)["features"]
    assert stats["tau21_j1"] == pytest.approx({"n": 1, "mean": 0.4, "min": 0.4, "median": 0.4,
                                               "max": 0.4, "nan": 1, "inf": 1})
    assert "nan" not in stats["tau21_j2"]
