"""Generative surrogates: they train through the one loop, generate seeded showers of the
layout, keep the response near the training showers' and survive a save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihep.fastsim.dataset import incident_energies
from aihep.fastsim.geometry import preset
from aihep.fastsim.gflash import GFlash, GFlashParams
from aihep.fastsim.surrogates import SurrogateConfig, load_surrogate, train_surrogate
from aihep.nn.train import TrainConfig

LAYOUT = preset("coarse")


@pytest.fixture(scope="module")
def showers():
    energies = incident_energies(LAYOUT, 1, 0, 1500)
    return GFlash(LAYOUT, GFlashParams(response=0.031)).generate(energies, seed=1), energies


@pytest.mark.parametrize("kind", ["vae", "flow-matching",
                                  pytest.param("caloflow", marks=pytest.mark.slow)])
def test_surrogate_trains_generates_and_round_trips(showers, kind, tmp_path):
    voxels, energies = showers
    config = SurrogateConfig(kind=kind, hidden=(64, 64), latent=8, ode_steps=8,
                             flow_transforms=2,
                             train=TrainConfig(epochs=6, batch_size=128, learning_rate=2e-3,
                                               patience=6))
    model = train_surrogate(voxels, energies, LAYOUT, config)
    assert model.history["train"][-1] < model.history["train"][0]
    generated = model.generate(energies[:200], seed=3)
    assert generated.shape == (200, LAYOUT.n_voxels) and np.all(generated >= 0)
    assert np.all(generated[generated > 0] >= LAYOUT.threshold_mev)
    response = (generated.sum(1) / energies[:200]).mean()
    assert response == pytest.approx((voxels.sum(1) / energies).mean(), rel=0.5)
    np.testing.assert_array_equal(generated, model.generate(energies[:200], seed=3))
    model.save(tmp_path / "run")
    again = load_surrogate(tmp_path / "run")
    np.testing.assert_allclose(again.generate(energies[:50], seed=4),
                               model.generate(energies[:50], seed=4), rtol=1e-4)
    if kind == "flow-matching":  # fewer ODE steps: another sampler of the same model
        coarse = load_surrogate(tmp_path / "run", ode_steps=2).generate(energies[:50], seed=4)
        assert coarse.shape == (50, LAYOUT.n_voxels)
        assert not np.allclose(coarse, again.generate(energies[:50], seed=4))


@pytest.mark.parametrize("two_stage", [True, False])
def test_layer_transformer_flow_matching_trains_and_round_trips(showers, two_stage, tmp_path):
    """Flow matching with the layers as transformer tokens: each token carries its layer's
    energy in the two-stage model; it learns, samples valid showers and reloads."""
    from aihep.fastsim.surrogates import _LayerTransformerField, build

    voxels, energies = showers
    config = SurrogateConfig(kind="flow-matching", velocity_net="layer-transformer",
                             hidden=(32, 32), heads=2, ode_steps=4, flow_transforms=1,
                             layer_hidden=(32, 32), two_stage=two_stage,
                             train=TrainConfig(epochs=4, batch_size=128, learning_rate=2e-3,
                                               patience=4))
    model = train_surrogate(voxels[:800], energies[:800], LAYOUT, config)
    field = (model.network.shape if two_stage else model.network).net
    assert isinstance(field, _LayerTransformerField)
    assert field.own_energy is two_stage and field.n_layers == LAYOUT.n_layers
    assert model.history["train"][-1] < model.history["train"][0]
    generated = model.generate(energies[:100], seed=3)
    assert generated.shape == (100, LAYOUT.n_voxels) and np.all(generated >= 0)
    assert np.all(generated[generated > 0] >= LAYOUT.threshold_mev)
    model.save(tmp_path / "run")
    np.testing.assert_allclose(load_surrogate(tmp_path / "run").generate(energies[:20], seed=4),
                               model.generate(energies[:20], seed=4), rtol=1e-4)
    with pytest.raises(ValueError, match="equal layers"):
        build("flow-matching", 100, config, 7)


def test_layerwise_caloflow_trains_and_generates_layer_by_layer(showers):
    """Above 1000 voxels (or when asked) CaloFlow's second stage runs layer by layer."""
    from aihep.fastsim.surrogates import ShowerLayerwiseFlow, build

    voxels, energies = showers
    config = SurrogateConfig(kind="caloflow", hidden=(32, 32), flow_transforms=1,
                             layer_hidden=(32, 32), layerwise=True, layers_per_step=3,
                             train=TrainConfig(epochs=3, batch_size=128, learning_rate=2e-3,
                                               patience=3))
    assert isinstance(build("caloflow", 6480, SurrogateConfig(kind="caloflow"), 45).shape,
                      ShowerLayerwiseFlow)
    model = train_surrogate(voxels[:600], energies[:600], LAYOUT, config)
    assert isinstance(model.network.shape, ShowerLayerwiseFlow)
    assert model.history["train"][-1] < model.history["train"][0]
    generated = model.generate(energies[:50], seed=3)
    assert generated.shape == (50, LAYOUT.n_voxels) and np.all(generated >= 0)
    np.testing.assert_array_equal(generated, model.generate(energies[:50], seed=3))


def test_training_killed_mid_run_resumes_to_the_same_model(showers, tmp_path, monkeypatch):
    from aihep.fastsim import surrogates
    from aihep.fastsim.surrogates import train_file
    from aihep.io.calo import ShowerSet, write_showers

    voxels, energies = showers
    write_showers(ShowerSet(energies[:400], voxels[:400]), tmp_path / "ref.h5")
    config = SurrogateConfig(kind="vae", hidden=(32,), latent=4, layer_hidden=(16,),
                             flow_transforms=1,
                             train=TrainConfig(epochs=4, batch_size=100, learning_rate=2e-3,
                                               patience=10))
    whole = train_file(tmp_path / "ref.h5", LAYOUT, tmp_path / "whole", config)
    real = surrogates.TwoStage.loss
    calls = {"n": 0}

    def killed(self, *args):
        calls["n"] += 1
        if calls["n"] == 9:  # during the third epoch (3 training + 1 validation batches)
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(surrogates.TwoStage, "loss", killed)
    with pytest.raises(KeyboardInterrupt):
        train_file(tmp_path / "ref.h5", LAYOUT, tmp_path / "run", config)
    monkeypatch.setattr(surrogates.TwoStage, "loss", real)
    resumed = train_file(tmp_path / "ref.h5", LAYOUT, tmp_path / "run", config)
    assert resumed.best_epoch == whole.best_epoch
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    epochs = checkpoint["history"]["seconds"]
    assert len(epochs) == 4 and resumed.train_minutes * 60 >= sum(epochs)  # both sessions
    assert "seconds" not in load_surrogate(resumed.directory).history  # no wall clock saved
    np.testing.assert_allclose(load_surrogate(resumed.directory).generate(energies[:20], seed=2),
                               load_surrogate(whole.directory).generate(energies[:20], seed=2),
                               rtol=1e-5)


@pytest.mark.parametrize("kind", ["vae", "caloflow"])
def test_onnx_export_gives_the_samplers_showers(showers, kind, tmp_path):
    """The exported sampler (energies and noise in, voxels out) gives what the surrogate
    gives for the same noise."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from aihep.fastsim.surrogates import ShowerSampler, export_onnx

    voxels, energies = showers
    config = SurrogateConfig(kind=kind, hidden=(32, 32), latent=4, layer_hidden=(16,),
                             flow_transforms=1,
                             train=TrainConfig(epochs=1, batch_size=128, patience=2))
    model = train_surrogate(voxels[:300], energies[:300], LAYOUT, config)
    model.save(tmp_path / "run")
    path = export_onnx(tmp_path / "run", tmp_path / "sampler.onnx", batch_size=7)
    rng = np.random.default_rng(0)
    e = energies[:7].astype(np.float32)
    noise = [rng.standard_normal((7, d)).astype(np.float32)
             for d in model.network.noise_dims()]
    session = ort.InferenceSession(str(path))
    feeds = {"energies_mev": e, **{f"noise_{i}": n for i, n in enumerate(noise)}}
    exported = session.run(None, feeds)[0]
    with torch.no_grad():
        expected = ShowerSampler(load_surrogate(tmp_path / "run"))(
            torch.from_numpy(e), *[torch.from_numpy(n) for n in noise]).numpy()
    assert exported.shape == (7, LAYOUT.n_voxels)
    both = (exported > 0) & (expected > 0)
    assert (exported > 0).sum() == pytest.approx((expected > 0).sum(), abs=3)
    np.testing.assert_allclose(exported[both], expected[both], rtol=1e-3)


def test_training_minutes_count_every_session_of_a_resumed_run():
    """The CaloFlow benchmark row reported 5 minutes of training: the last of several
    sessions; its checkpoint held 32 epochs of 62 minutes in all."""
    from types import SimpleNamespace

    from aihep.fastsim.surrogates import training_minutes

    resumed = SimpleNamespace(history={"seconds": [60.0] * 4, "resumed_from": [2.0]})
    # two epochs of earlier sessions, two of this one (120 s) plus 10 s of preparation
    assert training_minutes(resumed, 130.0) == pytest.approx((240 + 10) / 60)
    fresh = SimpleNamespace(history={"seconds": [60.0] * 4})
    assert training_minutes(fresh, 250.0) == pytest.approx(250 / 60)


@pytest.mark.parametrize("two_stage", [True, False])
def test_global_shape_scale_pools_the_voxel_columns_and_decodes_the_same(showers, two_stage):
    """``shape_scale="global"``: one mean and width for every voxel column (the layer columns
    keep their own), and a shower encoded and decoded keeps its hits either way."""
    from aihep.fastsim.surrogates import ShowerSampler, _Scaler

    voxels, energies = showers
    n = LAYOUT.n_layers if two_stage else 0
    per_voxel = _Scaler.fit(voxels, energies, LAYOUT.threshold_mev, np.random.default_rng(1),
                            1.0, n)
    pooled = _Scaler.fit(voxels, energies, LAYOUT.threshold_mev, np.random.default_rng(1),
                         1.0, n, "global")
    assert np.unique(pooled.std[n:]).size == 1 and np.unique(pooled.mean[n:]).size == 1
    assert np.unique(per_voxel.std[n:]).size > 1
    np.testing.assert_array_equal(pooled.std[:n], per_voxel.std[:n])
    z = pooled.encode(voxels[:50], energies[:50], np.random.default_rng(2))
    # the pooled scale leaves rare voxels' hits within a few units of their empty value
    assert np.abs(z).max() < np.abs(per_voxel.encode(voxels[:50], energies[:50],
                                                     np.random.default_rng(2))).max()

    class Identity(torch.nn.Module):  # the sampler's decoding with z as the network output
        def sample_from(self, c, noise):
            return noise[0]

    class Model:
        scaler, network, layout, calibration = pooled, Identity(), LAYOUT, None
        layer_calibration = None

    decoded = ShowerSampler(Model()).forward(torch.from_numpy(energies[:50]).float(),
                                             torch.from_numpy(z)).numpy()
    hit = voxels[:50] >= LAYOUT.threshold_mev
    np.testing.assert_array_equal(decoded > 0, hit)
    # (a layer's energy is its hits' alone: the empty voxels' stand-ins are not handed to
    # them; up to 7% on the few hits of a sparse layer when they were)
    np.testing.assert_allclose(decoded[hit], voxels[:50][hit], rtol=1e-4)


def test_layer_gap_puts_empty_layers_below_every_real_one_and_decodes_exactly(showers):
    """``layer_gap``: an empty layer's energy lies a decade or more below the threshold (the
    smallest real layer holds one hit >= the threshold), so the first stage's layer energy
    alone says "empty"; a shower encoded and decoded keeps its hits and its empty layers."""
    from aihep.fastsim.surrogates import ShowerSampler, _Scaler

    voxels, energies = showers
    threshold, n = LAYOUT.threshold_mev, LAYOUT.n_layers
    scaler = _Scaler.fit(voxels, energies, threshold, np.random.default_rng(1), 1.0, n,
                         layer_gap=True)
    plain = _Scaler.fit(voxels, energies, threshold, np.random.default_rng(1), 1.0, n)
    u = scaler._represent(voxels, energies, np.random.default_rng(2))
    u_plain = plain._represent(voxels, energies, np.random.default_rng(2))
    layer_mev = np.exp(u[:, :n]) * energies[:, None]
    empty = ~(voxels.reshape(len(voxels), n, -1) >= threshold).any(2)
    assert empty.any() and (~empty).any()
    assert layer_mev[empty].max() <= threshold / 10 < threshold <= layer_mev[~empty].min()
    # before: the stand-ins' sum, not clearly below the smallest real layers
    assert (np.exp(u_plain[:, :n]) * energies[:, None])[empty].max() > threshold / 10
    np.testing.assert_array_equal(u[:, :n][~empty], u_plain[:, :n][~empty])

    class Identity(torch.nn.Module):  # the sampler's decoding with z as the network output
        def sample_from(self, c, noise):
            return noise[0]

    class Model:
        network, layout, calibration, layer_calibration = Identity(), LAYOUT, None, None

    Model.scaler = scaler
    z = scaler.encode(voxels[:200], energies[:200], np.random.default_rng(3))
    decoded = ShowerSampler(Model()).forward(torch.from_numpy(energies[:200]).float(),
                                             torch.from_numpy(z)).numpy()
    hit = voxels[:200] >= threshold
    np.testing.assert_array_equal(decoded > 0, hit)
    np.testing.assert_allclose(decoded[hit], voxels[:200][hit], rtol=1e-4)
    # a layer the first stage puts at 3x the threshold, its voxels spread evenly (each below
    # the threshold): it keeps one voxel with the layer's energy, it is not emptied
    u = z[:1] * scaler.std + scaler.mean
    u[0, 0] = np.log(3 * threshold / energies[0])
    per_layer = LAYOUT.n_voxels // n
    u[0, n:n + per_layer] = np.log(1.0 / per_layer)
    Model.scaler = _Scaler({**scaler.state(), "low": np.full(len(u[0]), -1e9),
                            "high": np.full(len(u[0]), 1e9)})  # no clamping to the range
    spread = ShowerSampler(Model()).forward(
        torch.from_numpy(energies[:1]).float(),
        torch.from_numpy(((u - scaler.mean) / scaler.std).astype(np.float32))).numpy()
    assert np.count_nonzero(spread[0, :per_layer]) == 1
    assert spread[0, :per_layer].sum() == pytest.approx(3 * threshold, rel=1e-4)
    with pytest.raises(ValueError, match="layer_gap"):
        SurrogateConfig(kind="flow-matching", layer_gap=True, two_stage=False)


def test_voxel_head_starts_as_the_plain_field_and_learns(showers, tmp_path):
    """``voxel_head``: the same field at initialization (its output layer is zero), then a
    trained per-voxel refinement that survives save/load."""
    from aihep.fastsim.surrogates import _ResidualField

    torch.manual_seed(0)
    plain = _ResidualField(30, 3, 8, 1)
    torch.manual_seed(0)
    headed = _ResidualField(30, 3, 8, 1, voxel_head=4)
    x, c = torch.randn(5, 30), torch.randn(5, 3)
    torch.testing.assert_close(headed(x, c), plain(x, c))
    voxels, energies = showers
    config = SurrogateConfig(kind="flow-matching", hidden=(32, 32), voxel_head=4, ode_steps=4,
                             flow_transforms=1, layer_hidden=(16, 16),
                             train=TrainConfig(epochs=3, batch_size=128, learning_rate=2e-3,
                                               patience=3))
    model = train_surrogate(voxels[:600], energies[:600], LAYOUT, config)
    assert model.history["train"][-1] < model.history["train"][0]
    assert model.network.shape.net.head_out.abs().sum() > 0
    model.save(tmp_path / "run")
    np.testing.assert_allclose(load_surrogate(tmp_path / "run").generate(energies[:20], seed=4),
                               model.generate(energies[:20], seed=4), rtol=1e-4)


def test_voxel_head_outside_flow_matchings_mlp_field_is_a_config_error():
    from pydantic import ValidationError

    for bad in ({"kind": "vae"}, {"kind": "flow-matching", "velocity_net": "layer-transformer"}):
        with pytest.raises(ValidationError, match="voxel_head"):
            SurrogateConfig(voxel_head=8, **bad)
    assert SurrogateConfig(kind="flow-matching", voxel_head=8).voxel_head == 8


def test_quantile_map_takes_a_generated_marginal_onto_the_training_one():
    """Per bin of E_inc, columns drawn from N(0, 1) are mapped onto N(2 + bin, 0.5) and a
    shifted exponential: the map is monotone and reproduces the targets' quantiles on fresh
    draws."""
    from aihep.fastsim.surrogates import fit_quantile_map

    rng = np.random.default_rng(0)
    condition = rng.uniform(-1, 1, 20_000)
    which = (condition > 0).astype(float)
    generated = rng.normal(size=(20_000, 2))
    training = np.column_stack([2 + which + 0.5 * rng.normal(size=20_000),
                                -3 * which + rng.exponential(size=20_000)])
    qmap = fit_quantile_map(generated, training, condition, 2, 65)
    fresh = torch.from_numpy(rng.normal(size=(20_000, 2)).astype(np.float32))
    c = torch.from_numpy(condition.astype(np.float32))[:, None]
    mapped = qmap.apply(fresh, c).numpy()
    for rows in (condition <= 0, condition > 0):
        for j in (0, 1):
            np.testing.assert_allclose(np.quantile(mapped[rows, j], [0.1, 0.5, 0.9]),
                                       np.quantile(training[rows, j], [0.1, 0.5, 0.9]),
                                       atol=0.08)
    order = np.argsort(fresh[:, 0].numpy())
    one_bin = condition[order] <= 0
    assert np.all(np.diff(mapped[order][one_bin, 0]) >= 0)  # monotone


def test_quantile_calibrated_surrogate_matches_the_training_occupancy(showers, tmp_path):
    """A briefly trained VAE with the calibration: each voxel's hit fraction per shower
    comes closer to the training showers' than without it, and it survives save/load."""
    voxels, energies = showers
    common = {"kind": "vae", "hidden": (64, 64), "latent": 8, "train": TrainConfig(
        epochs=3, batch_size=128, learning_rate=2e-3, patience=6)}
    plain = train_surrogate(voxels, energies, LAYOUT, SurrogateConfig(**common))
    calibrated = train_surrogate(voxels, energies, LAYOUT,
                                 SurrogateConfig(**common, quantile_bins=2, quantile_knots=33))
    assert plain.calibration is None and calibrated.calibration is not None
    occupancy = (voxels > 0).mean(0)

    def error(model):
        return np.abs((model.generate(energies, seed=7) > 0).mean(0) - occupancy).mean()

    assert error(calibrated) < 0.5 * error(plain)
    calibrated.save(tmp_path / "run")
    again = load_surrogate(tmp_path / "run")
    np.testing.assert_allclose(again.generate(energies[:50], seed=4),
                               calibrated.generate(energies[:50], seed=4), rtol=1e-4)
    from aihep.errors import InputError
    from aihep.fastsim.surrogates import export_onnx

    with pytest.raises(InputError, match="quantile"):
        export_onnx(tmp_path / "run", tmp_path / "model.onnx")


def test_quantile_calibration_with_too_many_bins_is_one_clear_error(showers):
    from aihep.errors import InputError
    from aihep.fastsim.surrogates import calibrate

    voxels, energies = showers
    model = train_surrogate(voxels[:200], energies[:200], LAYOUT, SurrogateConfig(
        kind="vae", hidden=(16,), latent=2,
        train=TrainConfig(epochs=1, batch_size=64, learning_rate=1e-3, patience=1)))
    with pytest.raises(InputError, match="at least 10 per bin"):
        calibrate(model, voxels[:200], energies[:200], bins=50)


def test_layer_calibration_matches_the_training_layer_energies(showers, tmp_path):
    """With ``layers=True`` the layer energies / E_inc of a briefly trained two-stage VAE
    get the training showers' quantiles per layer (closer than with the voxel map alone),
    the map survives save/load, and a one-stage model is refused with one clear error."""
    from aihep.errors import InputError
    from aihep.fastsim.surrogates import calibrate

    voxels, energies = showers
    common = {"kind": "vae", "hidden": (64, 64), "latent": 8, "train": TrainConfig(
        epochs=2, batch_size=128, learning_rate=2e-3, patience=6)}
    plain = train_surrogate(voxels, energies, LAYOUT, SurrogateConfig(**common))
    voxel_only = calibrate(plain, voxels, energies, 2, 33)
    by_layer = calibrate(plain, voxels, energies, 2, 33, layers=True)
    assert voxel_only.layer_calibration is None and by_layer.layer_calibration is not None
    n_layers = LAYOUT.n_layers

    def layer_fractions(v: np.ndarray) -> np.ndarray:
        return v.reshape(len(v), n_layers, -1).sum(2) / energies[:, None]

    target = np.quantile(layer_fractions(voxels), [0.1, 0.5, 0.9], axis=0)

    def error(model) -> float:
        got = np.quantile(layer_fractions(model.generate(energies, seed=7)), [0.1, 0.5, 0.9],
                          axis=0)
        return float(np.abs(got - target).sum())

    assert error(by_layer) < 0.5 * error(voxel_only)
    by_layer.save(tmp_path / "run")
    np.testing.assert_allclose(load_surrogate(tmp_path / "run").generate(energies[:50], seed=4),
                               by_layer.generate(energies[:50], seed=4), rtol=1e-4)
    one_stage = train_surrogate(voxels[:300], energies[:300], LAYOUT, SurrogateConfig(
        **{**common, "train": TrainConfig(epochs=1, batch_size=128)}, two_stage=False))
    with pytest.raises(InputError, match="quantile_layers"):
        calibrate(one_stage, voxels[:300], energies[:300], 2, 33, layers=True)
