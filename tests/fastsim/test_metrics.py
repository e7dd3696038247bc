"""CaloChallenge metrics on showers whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from aihep.fastsim.geometry import CaloLayout, Slab, preset
from aihep.fastsim.metrics import (
    ClassifierTestConfig,
    classifier_test,
    feature_separations,
    fpd,
    frechet_distance,
    high_level_features,
    high_level_matrix,
    kpd,
    low_level_matrix,
    separation_power,
)
from aihep.nn.train import TrainConfig

SMALL = CaloLayout(cell=(Slab(material="W", thickness_mm=1.4),
                         Slab(material="Si", thickness_mm=0.3, active=True)),
                   n_cells=6, cells_per_layer=2, n_alpha=4,
                   radial_edges_mm=(0.0, 5.0, 10.0, 20.0))


def test_features_of_single_voxel_showers():
    n_per_layer = SMALL.n_alpha * SMALL.n_radial  # 12: angle-major, then radius
    shower = np.zeros((1, SMALL.n_voxels))
    # layer 1, angle bin 1 (centre -pi/4), radial bin 2 (centre 15 mm): 7 MeV
    shower[0, n_per_layer + 1 * SMALL.n_radial + 2] = 7.0
    f = high_level_features(shower, SMALL)
    assert f.e_tot[0] == 7.0 and f.e_layer[0].tolist() == [0.0, 7.0, 0.0]
    assert f.ec_r[0, 1] == pytest.approx(15.0) and f.width_r[0, 1] == pytest.approx(0.0)
    assert f.ec_x[0, 1] == pytest.approx(15.0 * np.cos(-np.pi / 4))
    assert f.ec_y[0, 1] == pytest.approx(15.0 * np.sin(-np.pi / 4))
    assert f.sparsity[0].tolist() == pytest.approx([1.0, 11 / 12, 1.0])
    # two equal deposits at r = 2.5 and 15 mm: centre 8.75 mm, width 6.25 mm
    shower[0, n_per_layer + 1 * SMALL.n_radial + 0] = 7.0
    f = high_level_features(shower, SMALL)
    assert f.ec_r[0, 1] == pytest.approx(8.75) and f.width_r[0, 1] == pytest.approx(6.25)
    matrix = high_level_matrix(f, np.array([1e4]))
    assert matrix.shape == (1, 1 + 3 + 4 * 3 + 1 + 3 + 2 * 3)
    assert low_level_matrix(shower, np.array([1e4]))[0, 0] == pytest.approx(4.0)
    with pytest.raises(Exception, match="voxels for layout"):
        high_level_features(np.zeros((2, 5)), SMALL)


def test_separation_power_limits():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 50_000)
    bins = np.linspace(-5, 5, 51)
    assert separation_power(a, a, bins) == 0.0
    assert separation_power(a, a + 20, np.linspace(-5, 30, 100)) == pytest.approx(1.0)
    assert separation_power(a, rng.normal(0, 1, 50_000), bins) < 1e-3
    assert separation_power(a, rng.normal(0.5, 1, 50_000), bins) > 0.02


def _showers(n, seed, spread=1.0):
    rng = np.random.default_rng(seed)
    e_inc = 1e3 * 10 ** rng.uniform(0, 2, n)
    weights = rng.gamma(2.0 * spread, 1.0, (n, SMALL.n_voxels))
    return 0.03 * e_inc[:, None] * weights / weights.sum(1, keepdims=True), e_inc


def test_classifier_test_tells_different_samples_apart_and_not_equal_ones():
    config = ClassifierTestConfig(hidden=(64, 64), n_bootstrap=50, train=TrainConfig(
        epochs=15, batch_size=200, learning_rate=1e-3, patience=5, cosine_schedule=False))
    ref, e_ref = _showers(3000, 1)
    same, e_same = _showers(3000, 2)
    other, e_other = _showers(3000, 3, spread=0.5)  # more fluctuating voxels
    null = classifier_test(low_level_matrix(ref, e_ref), low_level_matrix(same, e_same), config)
    assert abs(null.auc - 0.5) < 0.04 and abs(null.jsd) < 0.03
    lo, hi = null.auc_interval
    assert lo <= null.auc <= hi
    alt = classifier_test(low_level_matrix(ref, e_ref), low_level_matrix(other, e_other),
                          config)
    assert alt.auc > 0.75 and alt.jsd > 0.1 and alt.auc_interval[0] > null.auc_interval[1]


def test_classifier_test_checkpoints_and_resumes_to_the_same_answer(tmp_path):
    """A long (full-protocol) test re-run with its checkpoint resumes: the same AUC as a run
    without one, and the finished checkpoint is not retrained."""
    config = ClassifierTestConfig(hidden=(32,), n_bootstrap=20, train=TrainConfig(
        epochs=4, batch_size=200, learning_rate=1e-3, patience=5, cosine_schedule=False))
    ref, e_ref = _showers(1000, 1)
    other, e_other = _showers(1000, 3, spread=0.5)
    a, b = low_level_matrix(ref, e_ref), low_level_matrix(other, e_other)
    plain = classifier_test(a, b, config)
    ckpt = tmp_path / "cls.ckpt"
    first = classifier_test(a, b, config, checkpoint=ckpt)
    assert ckpt.is_file() and first.auc == pytest.approx(plain.auc, abs=1e-9)
    stamp = ckpt.stat().st_mtime_ns
    again = classifier_test(a, b, config, checkpoint=ckpt)
    assert again.auc == pytest.approx(plain.auc, abs=1e-9)
    assert again.best_epoch == plain.best_epoch and ckpt.stat().st_mtime_ns == stamp


def test_fpd_and_kpd_vanish_for_equal_samples_and_measure_a_shift():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, (20_000, 3)) + 10.0  # scaled by max|x| inside: ~ /14.5
    y = rng.normal(0.0, 1.0, (20_000, 3)) + 10.0
    z = rng.normal(0.0, 1.0, (20_000, 3)) + np.array([10.5, 10.0, 10.0])
    value, error = fpd(x, y, min_samples=2000, max_samples=20_000, n_batches=5, n_points=5)
    assert value < 3 * error + 1e-5
    shifted, _ = fpd(x, z, min_samples=2000, max_samples=20_000, n_batches=5, n_points=5)
    scale = np.abs(x).max(0)
    expected = (0.5 / scale[0]) ** 2  # the mean shift; equal covariances
    assert shifted == pytest.approx(expected, rel=0.25)
    assert frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)) == \
        pytest.approx(2 + 2 * (1 + 4 - 2 * 2))
    # non-commuting covariances: the eigenvalue form against a general matrix square root
    from scipy import linalg

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 6, 6))
    c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=(2, 6))
    direct = (mu1 - mu2) @ (mu1 - mu2) + np.trace(c1 + c2) - 2 * np.trace(
        np.real(linalg.sqrtm(c1 @ c2)))
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(direct, rel=1e-8)
    k_null, k_err = kpd(x, y, n_batches=5, batch_size=2000)
    k_alt, _ = kpd(x, z, n_batches=5, batch_size=2000)
    assert abs(k_null) < 3 * k_err + 1e-6 and k_alt > 10 * max(k_err, 1e-9)


def test_feature_separations_on_dataset_2_binning():
    layout = preset("coarse")
    rng = np.random.default_rng(5)
    e_inc = 1e3 * 10 ** rng.uniform(0, 2, 2000)
    w = rng.gamma(1.0, 1.0, (2000, layout.n_voxels))
    showers = 0.03 * e_inc[:, None] * w / w.sum(1, keepdims=True)
    f = high_level_features(showers, layout)
    seps = feature_separations(f, f, e_inc, e_inc)
    assert set(seps) >= {"e_tot_over_e_inc", "e_layer", "ec_r", "width_r", "sparsity"}
    assert all(v == 0.0 for v in seps.values())
    g = high_level_features(showers * 1.3, layout)
    assert feature_separations(f, g, e_inc, e_inc)["e_tot_over_e_inc"] > 0.5
