"""Detector geometry: optical modules (DOMs) on vertical strings in water.

Positions are in metres, z up, the detector centred on the origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep._atomic import write_atomic
from aihep.errors import InputError


class LayoutConfig(BaseModel):
    """A TRIDENT-like layout scaled to run on a laptop: strings on a hexagonal grid.

    TRIDENT plans ~1200 strings (Penrose tiling, 70-110 m apart) with 20 hybrid DOMs each;
    the default here is 200 strings 70 m apart, 20 DOMs 30 m apart (4000 DOMs, ~1 km wide,
    570 m tall).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_strings: int = Field(200, ge=1)
    string_spacing_m: float = Field(70.0, gt=0)
    doms_per_string: int = Field(20, ge=1)
    dom_spacing_m: float = Field(30.0, gt=0)


@dataclass(frozen=True)
class Geometry:
    """DOM positions ``(n_doms, 3)`` in metres and the string of each DOM ``(n_doms,)``."""

    positions: np.ndarray
    string: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def radius_m(self) -> float:
        """Largest horizontal distance of a DOM from the z axis."""
        return float(np.hypot(self.positions[:, 0], self.positions[:, 1]).max())

    @property
    def half_height_m(self) -> float:
        return float(np.abs(self.positions[:, 2]).max())


def hexagonal_layout(config: LayoutConfig | None = None) -> Geometry:
    """The ``n_strings`` points of a hexagonal grid closest to the axis, DOMs centred in z."""
    config = config or LayoutConfig()
    rings = int(np.ceil(np.sqrt(config.n_strings / 3.0))) + 2
    i, j = np.meshgrid(np.arange(-rings, rings + 1), np.arange(-rings, rings + 1))
    x = (i + 0.5 * j).ravel() * config.string_spacing_m
    y = (np.sqrt(3.0) / 2.0 * j).ravel() * config.string_spacing_m
    order = np.lexsort((np.arctan2(y, x), np.round(np.hypot(x, y), 6)))[: config.n_strings]
    z = (np.arange(config.doms_per_string) - (config.doms_per_string - 1) / 2.0
         ) * config.dom_spacing_m
    positions = np.stack([np.repeat(x[order], len(z)), np.repeat(y[order], len(z)),
                          np.tile(z[::-1], len(order))], axis=1)
    return Geometry(positions, np.repeat(np.arange(len(order)), len(z)))


def load_geometry(path: str | Path) -> Geometry:
    """Read DOM positions from a CSV with a header ``x,y,z`` (metres) and optional ``string``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing CSV of DOM positions")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()
             and not line.startswith("#")]
    if not lines:
        raise InputError(path, "header", "a header line 'x,y,z[,string]' and one row per DOM")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if header[:3] != ["x", "y", "z"] or header[3:] not in ([], ["string"]):
        raise InputError(path, "header", f"'x,y,z' or 'x,y,z,string', got '{lines[0]}'")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        try:
            values = [float(c) for c in cells]
        except ValueError:
            raise InputError(path, f"line {number}", f"{len(header)} numbers, got '{line}'"
                             ) from None
        if len(values) != len(header) or not np.all(np.isfinite(values)):
            raise InputError(path, f"line {number}", f"{len(header)} finite numbers, got '{line}'")
        rows.append(values)
    if len(rows) < 2:
        raise InputError(path, "rows", "at least 2 DOMs")
    table = np.asarray(rows)
    string = table[:, 3].astype(np.int64) if table.shape[1] == 4 else np.arange(len(table))
    return Geometry(table[:, :3].copy(), string)


def save_geometry(geometry: Geometry, path: str | Path) -> Path:
    """Write ``x,y,z,string`` (metres) to a CSV, atomically."""
    def write(tmp: Path) -> None:
        lines = ["x,y,z,string"] + [f"{x:.4f},{y:.4f},{z:.4f},{s}" for (x, y, z), s in zip(
            geometry.positions, geometry.string, strict=True)]
        tmp.write_text("\n".join(lines) + "\n")

    return write_atomic(path, write)
