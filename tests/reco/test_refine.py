"""Refinement passes: hypothesis frame geometry, fixed point at the truth, training round trip."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import torch

from aihep.reco.events import truth_directions
from aihep.reco.geometry import LayoutConfig, hexagonal_layout
from aihep.reco.gnn import (
    SCALE_M,
    TrackGNN,
    emission_on_axis,
    gnn_preset,
    graph_inputs,
    predict_tracks,
)
from aihep.reco.medium import Medium
from aihep.reco.refine import hypothesis_inputs, pulled_toward, refine_tracks
from aihep.reco.simulate import SimConfig, simulate
from aihep.reco.track import opening_angle

LAYOUT = LayoutConfig(n_strings=19, doms_per_string=12)


@pytest.fixture(scope="module")
def noiseless():
    config = SimConfig(layout=LAYOUT, energy_min_tev=50.0, energy_max_tev=50.0,
                       dark_rate_hz=0.0, stochastic=False, min_hit_doms=30)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 4, seed=3)
    return events


def _true_hypothesis(events: ak.Array, inputs) -> tuple[np.ndarray, np.ndarray]:
    """True directions and the charge-weighted mean of the true emission points (m,
    relative to the inputs' centres)."""
    w = (inputs.charge * inputs.mask).double()
    points = (inputs.emission.double() * w[..., None]).sum(1) / w.sum(1, keepdim=True)
    return truth_directions(events), points.numpy() * SCALE_M


def test_hypothesis_frame_puts_the_true_track_on_the_z_axis(noiseless):
    inputs = graph_inputs(noiseless, 256)
    directions, points = _true_hypothesis(noiseless, inputs)
    frame = hypothesis_inputs(inputs, directions, points)
    np.testing.assert_allclose(frame.direction.numpy(), np.tile([0, 0, 1.0], (4, 1)), atol=1e-6)
    # the emission points the true hypothesis implies are the true ones
    implied = emission_on_axis(frame.features[..., :3].double(),
                               1 / np.tan(Medium().cherenkov_angle)) * frame.mask[..., None]
    torch.testing.assert_close(implied.float(), frame.emission, atol=2e-4, rtol=0)
    # direct light only (no noise, first hits mostly unscattered): small time residuals
    residual = np.sinh(frame.features[..., 3].numpy()) * 3.0
    assert np.median(np.abs(residual[frame.mask.numpy()])) < 5.0


def test_a_refiner_without_corrections_keeps_its_hypothesis(noiseless):
    inputs = graph_inputs(noiseless, 256)
    directions, points = _true_hypothesis(noiseless, inputs)
    refiner = TrackGNN(gnn_preset("gnn-lite").model_copy(
        update={"frame": "hypothesis", "max_doms": 256}))
    torch.nn.init.zeros_(refiner.head[-1].weight)
    torch.nn.init.zeros_(refiner.head[-1].bias)
    refined, refined_points = refine_tracks(refiner, inputs, directions, points, passes=2)
    assert np.degrees(opening_angle(refined, directions)).max() < 1e-3
    np.testing.assert_allclose(refined_points, points, atol=1e-2)  # m
    unchanged, _ = refine_tracks(refiner, inputs, directions, points, passes=0)
    assert unchanged is directions


def test_predict_tracks_points_lie_on_the_predicted_line(noiseless):
    inputs = graph_inputs(noiseless, 64)
    torch.manual_seed(0)
    model = TrackGNN(gnn_preset("gnn-lite").model_copy(update={"max_doms": 64}))
    directions, points = predict_tracks(model, inputs)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-5)
    assert points.shape == (4, 3) and np.all(np.isfinite(points))


def test_pulled_toward_interpolates_unit_vectors():
    rng = np.random.default_rng(0)
    d = np.tile([1.0, 0.0, 0.0], (1000, 1))
    truth = np.tile([0.0, 1.0, 0.0], (1000, 1))
    mixed = pulled_toward(d, truth, rng)
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), 1.0)
    unchanged = np.all(mixed == d, axis=1).mean()
    assert 0.4 < unchanged < 0.6
    assert np.all(mixed[:, 1] >= 0)


def test_refiner_run_trains_and_reconstructs_on_its_own(tmp_path):
    from aihep.reco.run import reconstruct, train_gnn_file

    config = SimConfig(layout=LAYOUT)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 120, seed=6)
    data = tmp_path / "events.parquet"
    ak.to_parquet(events, data)
    from aihep.reco.run import GNN_TRAIN

    train_gnn_file(data, tmp_path / "seed", "gnn-lite",
                   train_config=GNN_TRAIN.model_copy(update={"epochs": 2}), seed=1)
    run = train_gnn_file(data, tmp_path / "refiner", "gnn-lite",
                         train_config=GNN_TRAIN.model_copy(update={"epochs": 3}), seed=1,
                         refine_from=tmp_path / "seed")
    assert run.train_loss[-1] < run.train_loss[0]
    assert run.to_dict()["refine_from"] == str(tmp_path / "seed")
    assert (tmp_path / "refiner" / "seed" / "model.pt").is_file()
    reco = reconstruct("gnn", events[:20], tmp_path / "refiner")
    assert reco.directions.shape == (20, 3)
    assert all(s in ("ok", "too few hits") for s in reco.status)
    ok = np.array([s == "ok" for s in reco.status])
    np.testing.assert_allclose(np.linalg.norm(reco.directions[ok], axis=1), 1.0, atol=1e-5)


def test_refine_from_a_direction_gnn_is_a_clear_error(tmp_path):
    from aihep.errors import InputError
    from aihep.reco.gnn import save_gnn
    from aihep.reco.run import train_gnn_file

    config = SimConfig(layout=LAYOUT)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 8, seed=7)
    data = tmp_path / "events.parquet"
    ak.to_parquet(events, data)
    save_gnn(TrackGNN(gnn_preset("gnn-lite", "direction")), tmp_path / "direct")
    with pytest.raises(InputError, match="points GNN"):
        train_gnn_file(data, tmp_path / "refiner", refine_from=tmp_path / "direct")


def test_emission_point_errors_split_perpendicular_and_along():
    from aihep.reco.metrics import emission_point_errors

    truth = np.zeros((1, 4, 3))
    predicted = truth + np.array([[[1.0, 0, 10], [0, 2.0, -10], [3.0, 0, 10], [9.0, 0, 0]]])
    mask = np.array([[True, True, True, False]])
    charge = np.array([[1.0, 1.0, 5.0, 1.0]])
    errors = emission_point_errors(predicted, truth, np.array([[0, 0, 1.0]]), mask, charge)
    assert errors == {"perp_median_m": 2.0, "perp_charge_weighted_median_m": 3.0,
                      "along_median_m": 10.0}


def test_non_finite_hypotheses_give_no_fit_not_a_crash(noiseless):
    inputs = graph_inputs(noiseless, 64)
    refiner = TrackGNN(gnn_preset("gnn-lite").model_copy(update={"frame": "hypothesis"}))
    directions = np.array([[np.nan] * 3, [0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]])
    points = np.zeros((4, 3))
    points[3] = np.nan
    refined, _ = refine_tracks(refiner, inputs, directions, points, passes=2)
    assert np.all(np.isnan(refined[[0, 3]]))
    np.testing.assert_allclose(np.linalg.norm(refined[[1, 2]], axis=1), 1.0, atol=1e-5)
