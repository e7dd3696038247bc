"""Calorimeter layouts: the dataset-2 stack's effective values, readout, YAML errors."""

from __future__ import annotations

import pytest

from aihep.errors import ConfigError, InputError
from aihep.fastsim.geometry import effective_properties, load_layout, preset
from aihep.fastsim.materials import MATERIALS


def test_dataset_2_stack_has_the_published_effective_values():
    layout = preset("ds2")
    assert layout.n_voxels == 6480 and (layout.n_layers, layout.n_alpha,
                                        layout.n_radial) == (45, 16, 9)
    eff = effective_properties(layout)
    assert eff["x0_mm"] == pytest.approx(4.22, abs=0.02)
    assert eff["critical_energy_mev"] == pytest.approx(8.2, abs=0.1)
    assert eff["moliere_radius_mm"] == pytest.approx(10.9, abs=0.15)
    assert eff["mip_sampling_fraction"] == pytest.approx(0.036, abs=0.001)
    assert eff["depth_x0"] == pytest.approx(36.0, abs=0.5)
    assert 100 <= preset("coarse").n_voxels <= 500
    fine = preset("ds3")  # the challenge's dataset 3: the same stack, finer readout
    assert (fine.n_layers, fine.n_alpha, fine.n_radial, fine.n_voxels) == (45, 50, 18, 40500)
    assert fine.radial_edges_mm[-1] == pytest.approx(layout.radial_edges_mm[-1])
    assert effective_properties(fine) == effective_properties(layout)


def test_material_table_is_consistent():
    for m in MATERIALS.values():
        # Moliere radius = E_s X0 / Ec within the PDG tables' rounding
        assert m.moliere_radius_mm == pytest.approx(21.2052 * m.x0_mm / m.critical_energy_mev,
                                                    rel=0.03), m.name
        assert sum(m.composition.values()) == pytest.approx(1.0)
    assert MATERIALS["W"].x0_mm == pytest.approx(3.504, abs=0.01)


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="presets: ds2, ds3, coarse"):
        preset("ds1")
    good = tmp_path / "ok.yaml"
    good.write_text("cell:\n  - {material: Pb, thickness_mm: 2.0}\n"
                    "  - {material: scintillator, thickness_mm: 4.0, active: true}\n"
                    "n_cells: 20\ncells_per_layer: 4\nradial_edges_mm: [0, 10, 30]\n")
    layout = load_layout(good)
    assert layout.n_voxels == 5 * 1 * 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("Pb", "Unobtainium"))
    with pytest.raises(InputError, match="unknown material 'Unobtainium'") as error:
        load_layout(bad)
    assert str(bad) in str(error.value)
    odd = tmp_path / "odd.yaml"
    odd.write_text(good.read_text().replace("n_cells: 20", "n_cells: 21"))
    with pytest.raises(InputError, match="multiple of cells_per_layer"):
        load_layout(odd)
