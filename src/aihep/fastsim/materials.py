"""Materials of sampling calorimeters, with the constants an electromagnetic cascade needs.

Values from the PDG tables of atomic and nuclear properties (pdg.lbl.gov/AtomicNuclear
Properties): radiation length X0 (g/cm^2), density, critical energy for electrons (Rossi
definition), Moliere radius, mean excitation energy I and the minimum ionization
dE/dx. Compounds list their elements by mass fraction (for the cross sections).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Moliere's scale energy E_s = m_e c^2 sqrt(4 pi / alpha) (MeV)
SCALE_ENERGY_MEV = 21.2052


class Material(BaseModel):
    """One material (PDG values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    density_g_cm3: float = Field(gt=0)
    x0_g_cm2: float = Field(gt=0, description="radiation length")
    critical_energy_mev: float = Field(gt=0, description="electrons, Rossi definition")
    moliere_radius_cm: float = Field(gt=0)
    mean_excitation_ev: float = Field(gt=0)
    dedx_min_mev_cm2_g: float = Field(gt=0, description="minimum ionization")
    z_over_a: float = Field(gt=0, description="<Z/A> (mol/g)")
    #: element Z -> mass fraction
    composition: dict[int, float]

    @property
    def x0_mm(self) -> float:
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def moliere_radius_mm(self) -> float:
        return 10.0 * self.moliere_radius_cm

    @property
    def mip_mev_per_mm(self) -> float:
        return 0.1 * self.dedx_min_mev_cm2_g * self.density_g_cm3


MATERIALS: dict[str, Material] = {m.name: m for m in (
    Material(name="W", density_g_cm3=19.3, x0_g_cm2=6.76, critical_energy_mev=7.97,
             moliere_radius_cm=0.9327, mean_excitation_ev=727.0, dedx_min_mev_cm2_g=1.145,
             z_over_a=0.40250, composition={74: 1.0}),
    Material(name="Pb", density_g_cm3=11.35, x0_g_cm2=6.37, critical_energy_mev=7.43,
             moliere_radius_cm=1.602, mean_excitation_ev=823.0, dedx_min_mev_cm2_g=1.122,
             z_over_a=0.39575, composition={82: 1.0}),
    Material(name="Fe", density_g_cm3=7.874, x0_g_cm2=13.84, critical_energy_mev=21.68,
             moliere_radius_cm=1.719, mean_excitation_ev=286.0, dedx_min_mev_cm2_g=1.451,
             z_over_a=0.46557, composition={26: 1.0}),
    Material(name="Cu", density_g_cm3=8.96, x0_g_cm2=12.86, critical_energy_mev=19.42,
             moliere_radius_cm=1.568, mean_excitation_ev=322.0, dedx_min_mev_cm2_g=1.403,
             z_over_a=0.45636, composition={29: 1.0}),
    Material(name="Si", density_g_cm3=2.329, x0_g_cm2=21.82, critical_energy_mev=40.19,
             moliere_radius_cm=4.944, mean_excitation_ev=173.0, dedx_min_mev_cm2_g=1.664,
             z_over_a=0.49848, composition={14: 1.0}),
    Material(name="scintillator", density_g_cm3=1.060, x0_g_cm2=43.79,
             critical_energy_mev=93.11, moliere_radius_cm=9.413, mean_excitation_ev=68.7,
             dedx_min_mev_cm2_g=1.936, z_over_a=0.53768,  # polystyrene (C8H8)
             composition={1: 0.077418, 6: 0.922582}),
    Material(name="LAr", density_g_cm3=1.396, x0_g_cm2=19.55, critical_energy_mev=32.84,
             moliere_radius_cm=9.043, mean_excitation_ev=188.0, dedx_min_mev_cm2_g=1.519,
             z_over_a=0.45059, composition={18: 1.0}),
)}


#: standard atomic weights (g/mol) of the elements used here
ATOMIC_MASS = {1: 1.008, 6: 12.011, 14: 28.0855, 18: 39.948, 26: 55.845, 29: 63.546,
               74: 183.84, 82: 207.2}


def atomic_mass(z: int) -> float:
    """Atomic weight (g/mol) of element ``z``."""
    if z not in ATOMIC_MASS:
        from aihep.errors import ConfigError

        msg = f"no atomic weight for element Z = {z}; known: {sorted(ATOMIC_MASS)}"
        raise ConfigError(msg)
    return ATOMIC_MASS[z]


def get_material(name: str) -> Material:
    """A material by name (see :data:`MATERIALS`)."""
    if name not in MATERIALS:
        from aihep.errors import ConfigError

        msg = f"unknown material '{name}'; known: {', '.join(MATERIALS)}"
        raise ConfigError(msg)
    return MATERIALS[name]
