"""The batched likelihood fit: derivatives, recovery of a track, statuses, line-fit batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.reco.batchfit import BatchFitConfig, _Chunk, _TorchPandel, fit_tracks_batched
from aihep.reco.events import DomSummary, dom_summary, pad_doms
from aihep.reco.geometry import LayoutConfig, hexagonal_layout
from aihep.reco.likelihood import LikelihoodConfig, fit_track
from aihep.reco.linefit import causal_mask, line_fit, line_fits, select
from aihep.reco.pandel import pandel_table
from aihep.reco.simulate import SimConfig, simulate
from aihep.reco.track import opening_angle

LAYOUT = LayoutConfig(n_strings=19, doms_per_string=12)


@pytest.fixture(scope="module")
def tracks() -> tuple[list[DomSummary], np.ndarray]:
    config = SimConfig(layout=LAYOUT, energy_min_tev=20.0, energy_max_tev=50.0, min_hit_doms=30)
    events, _ = simulate(config, hexagonal_layout(LAYOUT), 6, seed=4)
    doms = [select(d, causal_mask(d)) for d in (dom_summary(e) for e in events)]
    truth = np.array([[e.dir_x, e.dir_y, e.dir_z] for e in events])
    return doms, truth


@pytest.mark.parametrize("variant", ["mpe", "spe"])
def test_analytic_gradient_matches_autograd(tracks, variant):
    doms, truth = tracks
    config = LikelihoodConfig(variant=variant)
    chunk = _Chunk(pad_doms(doms), truth + 0.02, _TorchPandel(pandel_table(config.pandel)),
                   config)
    x = chunk.start() + torch.tensor([0.003, -0.002, 1.0, -2.0, 1.5], dtype=torch.float64)
    _, grad, hess = chunk.evaluate(x, derivatives=True)
    leaf = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(chunk.evaluate(leaf)[0].sum(), leaf)
    assert grad is not None and hess is not None
    np.testing.assert_allclose(grad.numpy(), auto.numpy(), rtol=0.02, atol=1e-2)
    assert torch.all(torch.linalg.eigvalsh(hess) >= -1e-6)  # BHHH: positive semi-definite


def test_batched_fit_recovers_tracks_like_the_iminuit_fit(tracks):
    doms, truth = tracks
    directions, status = fit_tracks_batched(doms)  # seeded by the batched line fit
    assert status == ["ok"] * len(doms)
    batched = np.degrees(opening_angle(directions, truth))
    single = np.degrees(opening_angle(np.array([fit_track(d).direction for d in doms]), truth))
    seeds = np.degrees(opening_angle(np.array([line_fit(d.position, d.first_time).direction
                                               for d in doms]), truth))
    assert np.median(batched) < 0.5 < 4.0 < np.median(seeds)
    assert np.median(batched) < 1.2 * np.median(single) + 0.02


def test_batched_fit_from_given_seeds_and_float64(tracks):
    doms, truth = tracks
    seeds = truth + np.array([0.02, -0.01, 0.0])  # ~1.3 deg off
    directions, _ = fit_tracks_batched(doms, seeds, batch=BatchFitConfig(dtype="float64"))
    assert np.median(np.degrees(opening_angle(directions, truth))) < 0.3


def test_batched_fit_statuses_instead_of_crashes(tracks):
    doms, truth = tracks
    few = DomSummary(np.zeros((3, 3)), np.zeros(3), np.ones(3), np.ones(3, int), np.arange(3))
    seeds = np.vstack([truth[:1], [[np.nan] * 3], truth[:1]])
    directions, status = fit_tracks_batched([doms[0], doms[1], few], seeds)
    assert status == ["ok", "failed", "too few hits"]
    assert np.all(np.isfinite(directions[0])) and np.all(np.isnan(directions[1:]))


def test_padded_line_fits_equal_the_single_event_fit(tracks):
    doms, _ = tracks
    position, time, _, mask = pad_doms(doms)
    batched = line_fits(position, time, mask).direction
    single = np.array([line_fit(d.position, d.first_time).direction for d in doms])
    np.testing.assert_allclose(batched, single, atol=1e-9)
    one = line_fits(np.zeros((1, 2, 3)), np.zeros((1, 2)), np.array([[True, False]]))
    assert np.all(np.isnan(one.direction))  # a single DOM: no line
