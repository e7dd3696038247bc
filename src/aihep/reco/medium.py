"""Sea-water optics and constants used by the simulator and the reconstructions.

Defaults are for deep sea water at ~450 nm as measured at the TRIDENT site in the South China
Sea (absorption ~27 m, geometric scattering ~63 m; Ye et al., Nature Astronomy 7 (2023) 1497),
not the ice values common in IceCube papers. Scattering in water is forward peaked: a
Henyey-Greenstein phase function with mean cosine 0.92.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

C_VACUUM_M_PER_NS = 0.299792458


class Medium(BaseModel):
    """Optical properties of the water."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_phase: float = Field(1.35, gt=1, description="phase index: sets the Cherenkov angle")
    n_group: float = Field(1.38, gt=1, description="group index: sets the photon speed")
    absorption_m: float = Field(27.0, gt=0)
    scattering_m: float = Field(63.0, gt=0)
    scattering_g: float = Field(0.92, ge=0, lt=1, description="mean cosine of one scattering")

    @property
    def cherenkov_angle(self) -> float:
        """Cherenkov angle of a beta = 1 particle, radians."""
        return math.acos(1.0 / self.n_phase)

    @property
    def photon_speed_m_per_ns(self) -> float:
        return C_VACUUM_M_PER_NS / self.n_group
