"""Simulator: geometry, Cherenkov timing, reproducibility, physics sanity."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from aihep.errors import ConfigError, InputError
from aihep.reco.geometry import LayoutConfig, hexagonal_layout, load_geometry, save_geometry
from aihep.reco.medium import Medium
from aihep.reco.simulate import SimConfig, merge_pulses, simulate, simulate_dataset
from aihep.reco.track import direct_time, direction, opening_angle, zenith_azimuth

SMALL = SimConfig(layout=LayoutConfig(n_strings=19, doms_per_string=10), energy_min_tev=10.0)


def test_direct_time_matches_the_cherenkov_formula():
    medium = Medium()
    theta = math.acos(1 / 1.35)
    # track along +x through the origin at t0 = 5 ns; DOM 40 m off the track at x = 100 m
    r0, d = np.zeros(3), np.array([1.0, 0.0, 0.0])
    dom = np.array([[100.0, 0.0, 40.0]])
    t, path, s = direct_time(r0, d, 5.0, dom, medium)
    c = 0.299792458
    assert s[0] == pytest.approx(100.0 - 40.0 / math.tan(theta))
    assert path[0] == pytest.approx(40.0 / math.sin(theta))
    expected = 5.0 + s[0] / c + path[0] * 1.38 / c
    assert t[0] == pytest.approx(expected, rel=1e-12)
    # the light from the emission point reaches the DOM at the Cherenkov angle
    to_dom = dom[0] - (r0 + s[0] * d)
    assert np.degrees(opening_angle(to_dom, d)) == pytest.approx(np.degrees(theta))


def test_direction_round_trip_and_down_going_convention():
    zen, azi = np.array([0.3, 2.0]), np.array([1.0, 5.0])
    back = zenith_azimuth(direction(zen, azi))
    np.testing.assert_allclose(back, (zen, azi))
    np.testing.assert_allclose(direction(0.0, 0.0), [0, 0, -1], atol=1e-12)  # from above


def test_layout_and_geometry_csv_round_trip(tmp_path):
    geometry = hexagonal_layout(LayoutConfig(n_strings=7, doms_per_string=3,
                                             string_spacing_m=70))
    assert len(geometry) == 21 and len(np.unique(geometry.string)) == 7
    xy = np.unique(np.round(geometry.positions[:, :2], 6), axis=0)
    nearest = np.sort(np.linalg.norm(xy[:, None] - xy[None], axis=-1), axis=1)[:, 1]
    np.testing.assert_allclose(nearest, 70.0)  # a hexagonal cell: all neighbours 70 m away
    path = save_geometry(geometry, tmp_path / "g.csv")
    again = load_geometry(path)
    np.testing.assert_allclose(again.positions, geometry.positions, atol=1e-4)
    np.testing.assert_array_equal(again.string, geometry.string)


@pytest.mark.parametrize(("text", "field"), [
    ("a,b,c\n1,2,3\n", "header"),
    ("x,y,z\n1,2,3\n4,5\n", "line 3"),
    ("x,y,z\n1,2,nan\n4,5,6\n", "line 2"),
    ("x,y,z\n1,2,3\n", "rows"),
    ("", "header"),
])
def test_malformed_geometry_csv_is_a_clear_error(tmp_path, text, field):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=field):
        load_geometry(path)


def test_same_seed_same_events_and_physics_sanity():
    geometry = hexagonal_layout(SMALL.layout)
    a, generated = simulate(SMALL, geometry, 6, seed=3)
    b, _ = simulate(SMALL, geometry, 6, seed=3)
    c, _ = simulate(SMALL, geometry, 6, seed=4)
    assert ak.to_list(a) == ak.to_list(b)
    assert ak.to_list(a.t) != ak.to_list(c.t)
    assert generated >= 6 and np.all(a.n_signal_doms >= SMALL.min_hit_doms)
    # signal hits are never earlier than the direct light (minus the jitter)
    for event in a:
        d = np.array([event.dir_x, event.dir_y, event.dir_z])
        v = np.array([event.vertex_x, event.vertex_y, event.vertex_z])
        pos = np.stack([np.asarray(event[k]) for k in "xyz"], axis=1)
        t_geo, _, _ = direct_time(v, d, event.t0, pos, SMALL.medium)
        signal_only = (np.asarray(event.signal_npe) == np.asarray(event.npe))
        assert np.all((np.asarray(event.t) - t_geo)[signal_only] > -8 * SMALL.jitter_ns)


def test_brighter_muons_give_more_light():
    geometry = hexagonal_layout(SMALL.layout)
    low = SMALL.model_copy(update={"energy_min_tev": 1.0, "energy_max_tev": 1.0})
    high = SMALL.model_copy(update={"energy_min_tev": 100.0, "energy_max_tev": 100.0})
    n_low = np.mean(simulate(low, geometry, 20, seed=1)[0].n_signal_pe)
    n_high = np.mean(simulate(high, geometry, 20, seed=1)[0].n_signal_pe)
    assert n_high > 5 * n_low


def test_merge_pulses():
    hits = merge_pulses(np.array([2, 1, 1, 1]), np.array([0.0, 10.0, 12.0, 30.0]),
                        np.array([True, True, False, True]), 5.0)
    np.testing.assert_array_equal(hits["dom"], [1, 1, 2])
    np.testing.assert_array_equal(hits["npe"], [2, 1, 1])
    np.testing.assert_array_equal(hits["signal_npe"], [1, 1, 1])
    np.testing.assert_allclose(hits["t"], [10.0, 30.0, 0.0])


def test_dataset_resumes_and_writes_a_manifest(tmp_path):
    out = tmp_path / "sim"
    target = simulate_dataset(SMALL, 5, out, seed=2, events_per_chunk=2)
    first = ak.to_list(ak.from_parquet(target).t)
    (out / "chunks" / "chunk-000001.parquet").unlink()  # an interrupted run
    simulate_dataset(SMALL, 5, out, seed=2, events_per_chunk=2)
    assert ak.to_list(ak.from_parquet(target).t) == first
    assert (out / "manifest.json").is_file() and (out / "geometry.csv").is_file()
    with pytest.raises(ConfigError, match="another configuration"):
        simulate_dataset(SMALL, 5, out, seed=3, events_per_chunk=2)


def test_a_geometry_too_small_to_trigger_is_refused_before_anything_is_written(tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    geometry = tmp_path / "g.csv"
    geometry.write_text("x,y,z\n0,0,0\n0,0,30\n0,0,60\n")
    result = CliRunner().invoke(app, ["reco", "simulate", "-n", "5", "--geometry",
                                      str(geometry), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "fewer than min_hit_doms" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_trigger_that_never_fires_ends_with_an_error(monkeypatch):
    from aihep.errors import ConfigError
    from aihep.reco import simulate as sim
    from aihep.reco.geometry import LayoutConfig, hexagonal_layout

    monkeypatch.setattr(sim, "MAX_MUONS_WITHOUT_TRIGGER", 50)
    geometry = hexagonal_layout(LayoutConfig(n_strings=1, doms_per_string=10))
    config = sim.SimConfig(min_hit_doms=10, energy_min_tev=1.0, energy_max_tev=1.0)
    with pytest.raises(ConfigError, match="no muon of 50"):
        sim.simulate(config, geometry, 5, seed=1)
