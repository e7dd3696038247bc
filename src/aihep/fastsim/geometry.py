"""Layered sampling calorimeters and their CaloChallenge-style readout.

A layout is one sampling cell (slabs of absorber and active material, mm) repeated
``n_cells`` times along the beam; the readout groups ``cells_per_layer`` cells into a layer
and bins each layer in angle (``n_alpha`` bins) and radius (``radial_edges_mm``) around the
shower axis. Voxels are flattened (layer, angle, radius), as in the CaloChallenge files.

Presets:

* ``ds2``: CaloChallenge dataset 2 (Geant4 Par04): 90 cells of 1.4 mm W + 0.3 mm Si read out
  as 45 layers x 16 angles x 9 radii of 4.65 mm (6480 voxels), threshold 15.15 keV,
  electrons log-uniform in 1-100 GeV.
* ``ds3``: CaloChallenge dataset 3: the same stack read out finely, 45 layers x 50 angles x
  18 radii of 2.325 mm (40500 voxels), so the challenge's dataset-3 files can be evaluated.
* ``coarse``: the same stack read out coarsely (ours, a few hundred voxels like the
  challenge's dataset 1): 9 layers of 10 cells x 4 angles x 8 radii widening outwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aihep.errors import ConfigError, InputError
from aihep.fastsim.materials import SCALE_ENERGY_MEV, get_material


class Slab(BaseModel):
    """A slab of one material; ``active`` ones are read out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    material: str
    thickness_mm: float = Field(gt=0)
    active: bool = False


class CaloLayout(BaseModel):
    """A sampling calorimeter and its readout (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    cell: tuple[Slab, ...]
    n_cells: int = Field(ge=1)
    cells_per_layer: int = Field(1, ge=1)
    n_alpha: int = Field(1, ge=1, description="angular bins per layer")
    radial_edges_mm: tuple[float, ...]
    threshold_mev: float = Field(0.0, ge=0, description="voxel threshold")
    energy_min_mev: float = Field(1e3, gt=0)
    energy_max_mev: float = Field(1e5, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> CaloLayout:
        for slab in self.cell:
            get_material(slab.material)  # an unknown material fails here, naming it
        if not any(s.active for s in self.cell):
            msg = "the cell has no active slab: nothing would be read out"
            raise ValueError(msg)
        if self.n_cells % self.cells_per_layer:
            msg = (f"n_cells ({self.n_cells}) must be a multiple of cells_per_layer "
                   f"({self.cells_per_layer})")
            raise ValueError(msg)
        edges = np.asarray(self.radial_edges_mm)
        if len(edges) < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
            msg = "radial_edges_mm must start at 0 and increase"
            raise ValueError(msg)
        if self.energy_max_mev < self.energy_min_mev:
            msg = "energy_max_mev must be >= energy_min_mev"
            raise ValueError(msg)
        return self

    @property
    def n_layers(self) -> int:
        return self.n_cells // self.cells_per_layer

    @property
    def n_radial(self) -> int:
        return len(self.radial_edges_mm) - 1

    @property
    def n_voxels(self) -> int:
        return self.n_layers * self.n_alpha * self.n_radial

    @property
    def cell_mm(self) -> float:
        return float(sum(s.thickness_mm for s in self.cell))

    @property
    def depth_mm(self) -> float:
        return self.n_cells * self.cell_mm


def _stack(n_cells: int) -> dict:
    return {"cell": (Slab(material="W", thickness_mm=1.4),
                     Slab(material="Si", thickness_mm=0.3, active=True)),
            "n_cells": n_cells}


PRESETS: dict[str, CaloLayout] = {
    "ds2": CaloLayout(name="ds2", **_stack(90), cells_per_layer=2, n_alpha=16,
                      radial_edges_mm=tuple(4.65 * i for i in range(10)),
                      threshold_mev=15.15e-3),
    "ds3": CaloLayout(name="ds3", **_stack(90), cells_per_layer=2, n_alpha=50,
                      radial_edges_mm=tuple(2.325 * i for i in range(19)),
                      threshold_mev=15.15e-3),
    "coarse": CaloLayout(name="coarse", **_stack(90), cells_per_layer=10, n_alpha=4,
                         radial_edges_mm=(0.0, 4.65, 9.3, 14.0, 23.0, 37.0, 60.0, 100.0,
                                          200.0),
                         threshold_mev=15.15e-3),
}


def preset(name: str) -> CaloLayout:
    """A preset layout (``ds2``, ``ds3`` or ``coarse``)."""
    if name not in PRESETS:
        msg = f"unknown layout '{name}'; presets: {', '.join(PRESETS)} (or a YAML file)"
        raise ConfigError(msg)
    return PRESETS[name]


def load_layout(path: str | Path) -> CaloLayout:
    """A layout from a YAML file with the fields of :class:`CaloLayout`."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise InputError(path, "file", "a readable YAML file describing a calorimeter "
                         "layout") from None
    try:
        return CaloLayout.model_validate(data)
    except (ValidationError, ConfigError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        field = ".".join(str(p) for p in first["loc"]) if first and first["loc"] else "layout"
        words = first["msg"] if first else str(exc)
        raise InputError(path, field, f"a valid layout ({words})") from None


def effective_properties(layout: CaloLayout) -> dict[str, float]:
    """Effective radiation length (mm), critical energy (MeV), Moliere radius (mm), MIP
    sampling fraction and depth (X0) of the stack, averaged over one cell.

    X0: harmonic mean by thickness; critical energy: X0_eff * sum(f_i Ec_i / X0_i) (energy lost
    per X0 by a minimum-ionizing particle); Moliere radius E_s X0 / Ec.
    """
    t = np.array([s.thickness_mm for s in layout.cell])
    mats = [get_material(s.material) for s in layout.cell]
    f = t / t.sum()
    x0 = 1.0 / float(np.sum(f / np.array([m.x0_mm for m in mats])))
    ec = x0 * float(np.sum(f * np.array([m.critical_energy_mev / m.x0_mm for m in mats])))
    mip = np.array([m.mip_mev_per_mm for m in mats]) * t
    active = np.array([s.active for s in layout.cell])
    return {"x0_mm": x0, "critical_energy_mev": ec,
            "moliere_radius_mm": SCALE_ENERGY_MEV * x0 / ec,
            "mip_sampling_fraction": float(mip[active].sum() / mip.sum()),
            "depth_x0": layout.depth_mm / x0}
