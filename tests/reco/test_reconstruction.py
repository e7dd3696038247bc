"""Reconstructions: Pandel density, line fit, likelihood fit, GNN line fit and training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.nn.train import TrainConfig, train
from aihep.reco.events import DomSummary, dom_summary
from aihep.reco.geometry import LayoutConfig, hexagonal_layout
from aihep.reco.gnn import (
    GraphBatch,
    TrackGNN,
    gnn_loss,
    gnn_preset,
    graph_inputs,
    line_through_points,
    load_gnn,
    predict_directions,
    save_gnn,
)
from aihep.reco.likelihood import LikelihoodConfig, fit_track
from aihep.reco.linefit import causal_mask, line_fit, select
from aihep.reco.pandel import PandelConfig, calibrate_pandel, gamma_pdf, pandel_table
from aihep.reco.simulate import SimConfig, simulate
from aihep.reco.track import direct_time, direction, opening_angle

LAYOUT = LayoutConfig(n_strings=19, doms_per_string=12)


@pytest.mark.parametrize("distance", [0.0, 10.0, 60.0, 170.0, 500.0])
def test_convolved_pandel_integrates_to_one(distance):
    table = pandel_table()
    t = np.arange(-20.0, 3000.0, 0.1)
    p = table.pdf_at(t, np.full_like(t, distance))
    assert np.trapezoid(p, t) == pytest.approx(1.0, abs=2e-3)
    assert table.cdf_at(np.array([2999.0]), np.array([distance]))[0] == pytest.approx(1, abs=2e-3)
    assert table.pdf_at(np.array([-3.0]), np.array([distance]))[0] > 0  # jitter: t < 0 allowed


def test_convolved_pandel_approaches_the_gamma_density_far_from_zero():
    config = PandelConfig()
    t, d = np.array([300.0, 600.0]), np.array([400.0, 400.0])
    np.testing.assert_allclose(pandel_table(config).pdf_at(t, d), gamma_pdf(t, d, config),
                               rtol=0.02)


def test_mpe_density_of_one_photon_is_the_spe_density():
    table = pandel_table()
    t, d = np.linspace(-5, 200, 50), np.full(50, 80.0)
    np.testing.assert_allclose(table.mpe_pdf_at(t, d, np.ones(50)), table.pdf_at(t, d))
    # more photons: the first one comes earlier
    many = table.mpe_pdf_at(t, d, np.full(50, 20))
    assert np.sum(t * many) / many.sum() < np.sum(t * table.pdf_at(t, d)) / table.pdf_at(
        t, d).sum()


def test_calibration_recovers_pandel_parameters():
    truth = PandelConfig(lambda_m=120.0, tau_ns=400.0)
    rng = np.random.default_rng(0)
    d = rng.uniform(5, 300, 20000)
    t = rng.gamma(d / truth.lambda_m, 1 / truth.rate_per_ns) + rng.normal(0, 2.0, len(d))
    fitted, _ = calibrate_pandel(t, d, PandelConfig(), tau_grid_ns=(200, 400, 800))
    assert fitted.lambda_m == pytest.approx(120.0, rel=0.1)
    assert fitted.tau_ns == pytest.approx(400.0, rel=0.15)


def _noiseless_event(seed: int = 0):
    config = SimConfig(layout=LAYOUT, energy_min_tev=50.0, energy_max_tev=50.0,
                       dark_rate_hz=0.0, stochastic=False, min_hit_doms=30)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 1, seed)
    return events[0]


def _truth(event) -> np.ndarray:
    return np.array([event.dir_x, event.dir_y, event.dir_z])


def test_line_fit_of_points_on_a_line_is_exact():
    d = direction(0.7, 2.0)
    t = np.linspace(0, 1000, 20)
    points = np.array([3.0, -2.0, 5.0]) + 0.299792458 * t[:, None] * d
    fit = line_fit(points, t)
    assert np.degrees(opening_angle(fit.direction, d)) < 1e-6
    assert fit.speed_m_per_ns == pytest.approx(0.299792458)


def test_likelihood_recovers_a_noiseless_track():
    event = _noiseless_event()
    doms = dom_summary(event)
    fit = fit_track(select(doms, causal_mask(doms)), LikelihoodConfig())
    assert fit.status == "ok"
    assert np.degrees(opening_angle(fit.direction, _truth(event))) < 0.1


def test_too_few_hits_is_a_status_not_a_crash():
    doms = DomSummary(np.zeros((3, 3)), np.zeros(3), np.ones(3), np.ones(3, int), np.arange(3))
    assert fit_track(doms).status == "too few hits"


@pytest.mark.parametrize("frame", ["detector", "linefit"])
def test_gnn_line_fit_of_truth_emission_points_is_exact(frame):
    event = _noiseless_event(1)
    inputs = graph_inputs(_as_array(event), 256, frame=frame)
    d = line_through_points(inputs.emission * 100, inputs.charge, inputs.time, inputs.mask,
                            inputs.features[..., :3] * 100)
    np.testing.assert_allclose(inputs.direction.numpy()[0], d.numpy()[0], atol=1e-5)
    detector = inputs.rotation[0].T @ d.numpy()[0].astype(float)  # back from the network frame
    assert np.degrees(opening_angle(detector, _truth(event))) < 1e-4
    if frame == "linefit":  # the line fit is within ~10 degrees: the track is near +z
        assert d.numpy()[0, 2] > 0.9


def _as_array(event):
    import awkward as ak

    return ak.Array([ak.to_list(event)])


@pytest.fixture(scope="module")
def small_set() -> GraphBatch:
    config = SimConfig(layout=LAYOUT)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 96, seed=5)
    return graph_inputs(events, 64)


@pytest.mark.parametrize("target", ["points", "direction"])
def test_gnn_training_reduces_the_loss_and_round_trips(small_set, target, tmp_path):
    torch.manual_seed(0)
    model = TrackGNN(gnn_preset("gnn-lite", target).model_copy(update={"max_doms": 64}))
    s = small_set
    data = (s.features, s.coords, s.mask, s.charge, s.emission, s.direction)
    result = train(model, gnn_loss, tuple(x[:80] for x in data), tuple(x[80:] for x in data),
                   TrainConfig(epochs=6, batch_size=16, learning_rate=3e-3))
    assert result.train_loss[-1] < 0.7 * result.train_loss[0]
    directions = predict_directions(model, small_set)
    assert directions.shape == (96, 3)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-5)
    again = load_gnn(save_gnn(model, tmp_path / "gnn"))
    np.testing.assert_allclose(predict_directions(again, small_set), directions, atol=1e-5)


def test_gnn_loss_weights_the_error_along_the_track(small_set):
    s = small_set
    batch = (s.features[:8], s.coords[:8], s.mask[:8], s.charge[:8], s.emission[:8],
             s.direction[:8])

    class Fixed(torch.nn.Module):  # predicts the truth points shifted along the track
        def __init__(self, along_weight: float) -> None:
            super().__init__()
            self.config = gnn_preset("gnn-lite").model_copy(update={"along_weight": along_weight})

        def forward(self, features, coords, mask):
            return (s.emission[:8] + 0.3 * s.direction[:8, None, :]) * mask[..., None]

    assert float(gnn_loss(Fixed(0.0), batch)) < 1e-7  # float32 rounding of 0.09 - 0.09
    assert float(gnn_loss(Fixed(1.0), batch)) == pytest.approx(0.09, rel=1e-4)


@pytest.mark.parametrize("variant", [{}, {"offsets": True, "global_context": True,
                                      "frame": "linefit"}])
def test_gnn_is_invariant_to_the_order_of_the_doms(small_set, variant):
    torch.manual_seed(0)
    model = TrackGNN(gnn_preset("gnn-lite").model_copy(update=variant)).eval()
    s = small_set
    perm = torch.randperm(s.features.shape[1])
    with torch.no_grad():
        out = model(s.features, s.coords, s.mask)
        shuffled = model(s.features[:, perm], s.coords[:, perm], s.mask[:, perm])
    torch.testing.assert_close(out[:, perm], shuffled, atol=1e-5, rtol=1e-4)


def test_direct_time_consistency_with_the_simulated_first_hits():
    event = _noiseless_event(2)
    pos = np.stack([np.asarray(event[c]) for c in "xyz"], axis=1)
    v = np.array([event.vertex_x, event.vertex_y, event.vertex_z])
    t_geo, _, _ = direct_time(v, _truth(event), 0.0, pos, SimConfig().medium)
    residual = np.asarray(event.t) - t_geo
    assert np.median(residual) < 50.0 and np.min(residual) > -10.0


def test_cleaning_removes_isolated_noise_and_keeps_the_track():
    config = SimConfig()  # the full 4000-DOM detector: noise hits mostly far from the track
    events, _ = simulate(config, hexagonal_layout(config.layout), 10, seed=9)
    kept_signal, kept_noise, signal, noise = 0, 0, 0, 0
    for event in events:
        doms = dom_summary(event)
        keep = causal_mask(doms)
        is_signal = np.asarray(event.signal_npe)[doms.first_hit] > 0
        signal, noise = signal + is_signal.sum(), noise + (~is_signal).sum()
        kept_signal += (keep & is_signal).sum()
        kept_noise += (keep & ~is_signal).sum()
    assert noise > 200 and kept_noise / noise < 0.2
    assert kept_signal / signal > 0.95
