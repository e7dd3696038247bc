"""CaloChallenge HDF5 files: calorimeter showers and their incident energies.

Layout (the CaloChallenge 2022 convention, so the challenge's own files can be read)::

    incident_energies   (N, 1) float, MeV
    showers             (N, n_voxels) float, MeV per voxel, flattened (layer, angle, radius)

:func:`read_showers` checks shapes, finiteness and signs, and the units: incident energies
whose maximum is below 1000 are suspected to be in GeV, and so is a file whose median ratio
of summed voxel energy to incident energy lies outside an expected sampling-fraction band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aihep._atomic import write_atomic
from aihep.errors import InputError

ENERGY_KEY = "incident_energies"
SHOWER_KEY = "showers"
#: voxel counts of the CaloChallenge 2022 datasets, named in the error when a file has one
CHALLENGE_VOXELS = {
    6480: "the challenge's dataset 2: --layout ds2",
    40500: "the challenge's dataset 3: --layout ds3",
    368: "the challenge's dataset 1 photons, whose per-layer binning aihep's layouts do not "
         "describe",
    533: "the challenge's dataset 1 pions, whose per-layer binning aihep's layouts do not "
         "describe",
}


@dataclass(frozen=True)
class ShowerSet:
    """Showers (N, n_voxels) and incident energies (N,), both in MeV."""

    incident_mev: np.ndarray
    showers_mev: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.incident_mev)

    @property
    def n_voxels(self) -> int:
        return int(self.showers_mev.shape[1])

    def take(self, index: np.ndarray) -> ShowerSet:
        return ShowerSet(self.incident_mev[index], self.showers_mev[index], self.source)


def read_showers(path: str | Path, n_voxels: int | None = None,
                 sampling_fraction: tuple[float, float] | None = None,
                 max_showers: int | None = None) -> ShowerSet:
    """Read a CaloChallenge HDF5 file, checked.

    Args:
        n_voxels: the voxel count the geometry expects (None: any).
        sampling_fraction: (low, high) band of the median summed-voxels / incident-energy
            ratio (None: not checked); outside it the units are suspect.
        max_showers: read at most this many.

    Raises:
        InputError: naming the file, the dataset and what was expected.
    """
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError):
        raise InputError(path, "file", "an HDF5 file (CaloChallenge layout: "
                         f"'{ENERGY_KEY}' and '{SHOWER_KEY}')") from None
    with handle:
        for key in (ENERGY_KEY, SHOWER_KEY):
            if key not in handle:
                raise InputError(path, key, f"a dataset '{key}' (CaloChallenge layout; "
                                 f"found: {', '.join(sorted(handle.keys())) or 'nothing'})")
        stop = max_showers if max_showers is not None else None
        energies = np.asarray(handle[ENERGY_KEY][:stop], dtype=np.float64)
        showers = np.asarray(handle[SHOWER_KEY][:stop], dtype=np.float32)
    if len(energies) == 0:
        raise InputError(path, ENERGY_KEY, "at least one shower (the file holds none)")
    energies = energies.reshape(len(energies), -1)
    if energies.shape[1] != 1:
        raise InputError(path, ENERGY_KEY, f"shape (N, 1) or (N,), got {energies.shape}")
    energies = energies[:, 0]
    if showers.ndim != 2 or len(showers) != len(energies):
        raise InputError(path, SHOWER_KEY, f"shape (N, n_voxels) with N = {len(energies)} "
                         f"as in '{ENERGY_KEY}', got {showers.shape}")
    if n_voxels is not None and showers.shape[1] != n_voxels:
        known = CHALLENGE_VOXELS.get(showers.shape[1])
        raise InputError(path, SHOWER_KEY, f"{n_voxels} voxels per shower (the layout's; give "
                         f"the layout the file was made for), got {showers.shape[1]}"
                         + (f" ({known})" if known else ""))
    for key, values in ((ENERGY_KEY, energies), (SHOWER_KEY, showers)):
        if not np.all(np.isfinite(values)):
            raise InputError(path, key, "finite energies (found NaN or inf)")
        if np.any(values < 0):
            raise InputError(path, key, "non-negative energies in MeV (found negative)")
    if len(energies) and np.any(energies <= 0):
        raise InputError(path, ENERGY_KEY, "positive incident energies in MeV")
    if len(energies) and energies.max() < 1000.0:
        raise InputError(path, ENERGY_KEY, "incident energies in MeV (all below 1000: GeV "
                         "suspected; multiply by 1000)")
    if sampling_fraction is not None and len(energies):
        ratio = float(np.median(showers.sum(1) / energies))
        low, high = sampling_fraction
        if not low <= ratio <= high:
            raise InputError(path, SHOWER_KEY, f"voxel energies in MeV with a median summed "
                             f"deposit / incident energy in [{low:g}, {high:g}] (the "
                             f"geometry's sampling fraction), got {ratio:.3g}: wrong units "
                             "or another calorimeter")
    return ShowerSet(energies, showers, str(path))


def write_showers(showers: ShowerSet, path: str | Path) -> Path:
    """Write a CaloChallenge HDF5 file atomically (float32 voxels, gzip)."""
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            handle.create_dataset(ENERGY_KEY, data=np.asarray(
                showers.incident_mev, np.float64).reshape(-1, 1))
            handle.create_dataset(SHOWER_KEY, data=np.asarray(showers.showers_mev, np.float32),
                                  compression="gzip", compression_opts=4)

    return write_atomic(path, write)
