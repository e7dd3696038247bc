"""JetClass ROOT and Top Tagging HDF5 readers: round trips in the published layouts, errors."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from aihep.errors import InputError
from aihep.io.jetclass import read_jetclass, write_jetclass
from aihep.io.jets import load_jets, save_jets
from aihep.io.toptagging import read_top_tagging, write_top_tagging
from aihep.tagging.features import particle_inputs
from toyjets import toy_jets


@pytest.fixture(scope="module")
def jets():
    return toy_jets(40, seed=3)


def test_jetclass_round_trip(jets, tmp_path):
    import uproot

    path = write_jetclass(jets, tmp_path / "jets.root")
    assert uproot.open(path).classnames() == {"tree;1": "TTree"}
    tree = uproot.open(path)["tree"]
    assert tree["part_px"].typename == "float[]"
    assert tree["label_Wqq"].typename == "bool" and "jet_nparticles" in tree
    back = read_jetclass(path)
    assert back.classes == ("QCD", "Wqq")  # JetClass order
    np.testing.assert_array_equal(back.labels, jets.labels)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(back.table["part_px"])),
                               ak.to_numpy(ak.flatten(jets.table["part_px"])), rtol=1e-6)
    a = particle_inputs(jets, "kinpid", 32)
    b = particle_inputs(back, "kinpid", 32)
    np.testing.assert_allclose(a.features, b.features, atol=1e-4)


def test_top_tagging_round_trip(jets, tmp_path):
    import pandas as pd

    path = write_top_tagging(jets, tmp_path / "top.h5")
    frame = pd.read_hdf(path, key="table")
    assert list(frame.columns[:4]) == ["E_0", "PX_0", "PY_0", "PZ_0"]
    assert frame.shape == (len(jets), 4 * 200 + 1)
    back = read_top_tagging(path)
    assert back.classes == ("QCD", "Top")
    np.testing.assert_array_equal(back.labels, jets.labels)
    np.testing.assert_allclose(ak.to_numpy(back.table["jet_pt"]),
                               ak.to_numpy(jets.table["jet_pt"]), rtol=1e-5)
    assert ak.all(ak.num(back.table["part_energy"]) == ak.num(jets.table["part_energy"]))


def test_top_tagging_table_format_with_truth_columns(jets, tmp_path):
    """The published files are pandas *table*-format stores with truth columns and ``ttv``;
    ``max_jets`` reads only the first rows."""
    import pandas as pd

    frame = pd.read_hdf(write_top_tagging(jets, tmp_path / "fixed.h5"), key="table")
    for extra in ("truthE", "truthPX", "truthPY", "truthPZ", "ttv"):
        frame[extra] = 0.0
    frame = frame[frame.columns[::-1]]  # column order does not matter
    frame.to_hdf(tmp_path / "table.h5", key="table", mode="w", format="table")
    back = read_top_tagging(tmp_path / "table.h5", max_jets=7)
    assert len(back) == 7 and back.classes == ("QCD", "Top")
    np.testing.assert_array_equal(back.labels, jets.labels[:7])
    np.testing.assert_allclose(ak.to_numpy(back.table["jet_pt"]),
                               ak.to_numpy(jets.table["jet_pt"])[:7], rtol=1e-5)


def test_parquet_round_trip_keeps_classes(jets, tmp_path):
    back = load_jets(save_jets(jets, tmp_path / "jets.parquet"))
    assert back.classes == jets.classes and len(back) == len(jets)


def test_bad_inputs_are_clear_errors(jets, tmp_path):
    import uproot

    with uproot.recreate(tmp_path / "wrong.root") as handle:
        handle["tree"] = {"px": ak.Array([[1.0]]), "label_QCD": np.array([True])}
    with pytest.raises(InputError, match=r"part_px.*JetClass branches"):
        read_jetclass(tmp_path / "wrong.root")
    with uproot.recreate(tmp_path / "other.root") as handle:
        handle["events"] = {"x": np.array([1.0])}
    with pytest.raises(InputError, match="TTree named 'tree'"):
        read_jetclass(tmp_path / "other.root")
    (tmp_path / "empty.root").write_bytes(b"")
    with pytest.raises(InputError, match="a complete ROOT file"):
        read_jetclass(tmp_path / "empty.root")
    with pytest.raises(InputError, match="existing"):
        read_top_tagging(tmp_path / "missing.h5")
    import pandas as pd

    pd.DataFrame({"E_0": [1.0]}).to_hdf(tmp_path / "cols.h5", key="table")
    with pytest.raises(InputError, match="PX_0"):
        read_top_tagging(tmp_path / "cols.h5")
    pd.DataFrame({"E_0": [1.0]}).to_hdf(tmp_path / "key.h5", key="jets")
    with pytest.raises(InputError, match="key 'table'"):
        read_top_tagging(tmp_path / "key.h5")


def test_nan_and_empty_jets(jets, tmp_path):
    table = jets.table
    px = ak.to_list(table["part_px"])
    px[3][0] = float("nan")
    broken = type(jets)(ak.with_field(table, ak.Array(px), "part_px"), jets.classes, "x.root")
    with pytest.raises(InputError, match=r"x.root: part_px: expected finite values; found 1"):
        particle_inputs(broken, "kin")
    no_parts = table
    for name in [f for f in table.fields if f.startswith("part_")]:
        values = ak.to_list(table[name])
        values[5] = []
        no_parts = ak.with_field(no_parts, ak.Array(values), name)
    ragged = ak.with_field(table, ak.Array([[] if i == 5 else v for i, v in enumerate(
        ak.to_list(table["part_energy"]))]), "part_energy")
    with pytest.raises(InputError, match="part_px: expected as many entries per jet"):
        write_jetclass(type(jets)(ragged, jets.classes, "z"), tmp_path / "z.root")
    bad = type(jets)(no_parts, jets.classes, "y.root")
    with pytest.raises(InputError, match="at least one particle per jet; 1 jets have none "
                       r"\(first: jet 5\)"):
        particle_inputs(bad, "kin")
    path = write_jetclass(bad, tmp_path / "y.root")
    with pytest.raises(InputError, match="jet 5"):
        particle_inputs(read_jetclass(path), "kin")
    assert len(read_jetclass(path, drop_empty=True)) == len(jets) - 1
