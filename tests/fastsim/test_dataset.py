"""Shower datasets: the same file whatever the chunking and workers; resume."""

from __future__ import annotations

import numpy as np

from aihep.fastsim.dataset import ShowerDatasetConfig, simulate_dataset
from aihep.fastsim.geometry import preset
from aihep.io.calo import read_showers
from aihep.workflow.executor import ExecutorConfig

COARSE = preset("coarse").model_copy(update={"energy_max_mev": 3000.0})


def test_chunking_and_workers_do_not_change_the_showers(tmp_path):
    one = ShowerDatasetConfig(layout=COARSE, n_showers=6, showers_per_chunk=6, seed=3)
    three = one.model_copy(update={"showers_per_chunk": 2})
    a = simulate_dataset(one, tmp_path / "a").read()
    b = simulate_dataset(three, tmp_path / "b", ExecutorConfig(kind="local", workers=2)).read()
    np.testing.assert_array_equal(a.incident_mev, b.incident_mev)
    np.testing.assert_array_equal(a.showers_mev, b.showers_mev)
    assert np.all((a.incident_mev >= 1000.0) & (a.incident_mev <= 3000.0))
    assert a.showers_mev.shape == (6, COARSE.n_voxels)
    # a lost chunk is made again, identical
    (tmp_path / "b" / "chunks" / "showers-000001.h5").unlink()
    again = simulate_dataset(three, tmp_path / "b")
    np.testing.assert_array_equal(again.read().showers_mev, a.showers_mev)
    assert (tmp_path / "b" / "manifest.json").is_file()
    checked = read_showers(again.path, n_voxels=COARSE.n_voxels, sampling_fraction=(0.02, 0.04))
    assert len(checked) == 6
