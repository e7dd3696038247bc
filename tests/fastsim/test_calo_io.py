"""CaloChallenge HDF5 files: round trip and one clear error per kind of bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from aihep.errors import InputError
from aihep.io.calo import ShowerSet, read_showers, write_showers


def _set(n: int = 20, voxels: int = 12, seed: int = 1) -> ShowerSet:
    rng = np.random.default_rng(seed)
    energies = 1000.0 * 10 ** rng.uniform(0, 2, n)  # 1-100 GeV in MeV
    showers = rng.dirichlet(np.ones(voxels), n) * (0.03 * energies)[:, None]
    return ShowerSet(energies, showers.astype(np.float32))


def test_round_trip(tmp_path):
    made = _set()
    path = write_showers(made, tmp_path / "s.h5")
    back = read_showers(path, n_voxels=12, sampling_fraction=(0.01, 0.1))
    np.testing.assert_allclose(back.incident_mev, made.incident_mev)
    np.testing.assert_allclose(back.showers_mev, made.showers_mev)
    with h5py.File(path) as handle:  # the challenge's layout
        assert handle["incident_energies"].shape == (20, 1)
        assert handle["showers"].shape == (20, 12)
    assert len(read_showers(path, max_showers=5)) == 5


def _raw(path, energies, showers):
    with h5py.File(path, "w") as handle:
        handle["incident_energies"] = energies
        handle["showers"] = showers
    return path


@pytest.mark.parametrize(("change", "field", "words"), [
    ("voxels", "showers", "12 voxels per shower"),
    ("nan", "showers", "finite energies"),
    ("negative", "showers", "non-negative"),
    ("gev", "incident_energies", "GeV suspected"),
    ("units", "showers", "wrong units"),
    ("rows", "showers", "N = 20"),
])
def test_bad_files_name_the_field(tmp_path, change, field, words):
    made = _set()
    energies, showers = made.incident_mev.reshape(-1, 1), made.showers_mev.copy()
    if change == "voxels":
        showers = showers[:, :10]
    elif change == "nan":
        showers[3, 2] = np.nan
    elif change == "negative":
        showers[1, 1] = -1.0
    elif change == "gev":
        energies = energies / 1000.0
        showers = showers / 1000.0
    elif change == "units":
        showers = showers * 1000.0  # keV voxels: the median deposit is 1000x too large
    elif change == "rows":
        showers = showers[:15]
    path = _raw(tmp_path / "bad.h5", energies, showers)
    with pytest.raises(InputError, match=words) as error:
        read_showers(path, n_voxels=12, sampling_fraction=(0.01, 0.1))
    assert error.value.field == field and str(path) in str(error.value)


def test_a_challenge_file_with_another_layout_names_the_right_one(tmp_path):
    energies = np.full((3, 1), 5e4)
    showers = np.full((3, 40500), 50.0 / 40500 * 1e3 * 0.03, dtype=np.float32)
    path = _raw(tmp_path / "dataset_3_1.hdf5", energies, showers)
    with pytest.raises(InputError, match=r"6480 voxels .* got 40500 \(the challenge's "
                       r"dataset 3: --layout ds3\)"):
        read_showers(path, n_voxels=6480)
    assert read_showers(path, n_voxels=40500).n_voxels == 40500


def test_not_hdf5_or_missing_dataset(tmp_path):
    text = tmp_path / "x.h5"
    text.write_text("no")
    with pytest.raises(InputError, match="an HDF5 file"):
        read_showers(text)
    with h5py.File(tmp_path / "y.h5", "w") as handle:
        handle["energies"] = np.ones(3)
    with pytest.raises(InputError, match="a dataset 'incident_energies'"):
        read_showers(tmp_path / "y.h5")


def test_an_empty_file_is_one_clear_line(tmp_path):
    path = write_showers(ShowerSet(np.zeros(0), np.zeros((0, 12))), tmp_path / "empty.h5")
    with pytest.raises(InputError, match="at least one shower"):
        read_showers(path)
