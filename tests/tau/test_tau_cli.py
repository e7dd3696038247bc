"""``aihep tau dataset|train|evaluate`` end to end on tiny samples; bad input; the DANN
adaptation sample's mixture; the models' shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aihep.cli import app

runner = CliRunner()


def opts(flag, values):
    """[flag, v1, flag, v2, ...]"""
    return [x for v in values for x in (flag, str(v))]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("tau")
    for sample, n in (("ztautau", 150), ("qcd", 300)):
        for domain in ("simulation", "data"):
            result = runner.invoke(app, ["tau", "dataset", sample, "--out",
                                         str(root / f"{sample}_{domain}"), "--domain", domain,
                                         "--events", str(n), "--chunk", "100", "--json"])
            assert result.exit_code == 0, result.output
    return root


def test_dataset_train_evaluate(samples):
    info = json.loads((samples / "ztautau_simulation" / "manifest.json").read_text())
    assert info["counts"]["tau"] > 0 and info["counts"]["jet"] > 0
    sim = [samples / "ztautau_simulation", samples / "qcd_simulation"]
    data = [samples / "ztautau_data", samples / "qcd_data"]
    for name, extra in (("cnn", []), ("dann", ["--dann-lambda", "1.0", *opts("--data", data)])):
        run = samples / f"run_{name}"
        result = runner.invoke(app, ["tau", "train", *opts("--sim", sim),
                                     "--out", str(run), "--epochs", "1", "--channels", "8",
                                     *extra, "--json"])
        assert result.exit_code == 0, (name, result.output)
        out = samples / f"eval_{name}"
        result = runner.invoke(app, ["tau", "evaluate", str(run), *opts("--data", data),
                                     *opts("--sim", sim), "--out", str(out), "--json"])
        assert result.exit_code == 0, (name, result.output)
        rows = json.loads(result.stdout)["working_points"]
        assert {(r["working_point"], r["tau_eff"]) for r in rows} == {
            ("sim-fixed", 0.5), ("sim-fixed", 0.7), ("data-equal-eff", 0.5),
            ("data-equal-eff", 0.7)}
        for r in rows:
            assert 0 <= r["jet_misid"] <= 1 and r["jets"] > 0
            if r["working_point"] == "data-equal-eff":
                assert abs(r["data_tau_eff"] - r["tau_eff"]) < 0.1
        assert (out / "report.html").is_file() and (out / "manifest.json").is_file()
    state = json.loads((samples / "run_dann" / "tau.json").read_text())
    assert state["model"]["domain_head"] and state["config"]["dann_lambda_max"] == 1.0


def test_bad_input_is_one_line(samples, tmp_path, one_line_error):
    (tmp_path / "junk.npz").write_text("junk")
    sim = str(samples / "ztautau_simulation")
    cases = [
        (["tau", "train", "--sim", str(tmp_path / "junk.npz")], "not a NumPy .npz archive"),
        (["tau", "train", "--sim", str(tmp_path / "missing")], "missing"),
        (["tau", "train", "--sim", sim, "--dann-lambda", "1"], "needs --data"),
        (["tau", "train", "--sim", sim, "--model", "cnn"], "--model cnn: expected one of"),
        (["tau", "dataset", "wjets"], "sample"),
        (["tau", "dataset", "qcd", "--domain", "mc"], "--domain mc: expected"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        assert message in one_line_error(runner.invoke(app, [*args, "--out", str(out)]), out)


def test_adaptation_sample_follows_the_simulation_mixture():
    from aihep.tau.run import matched_mixture

    class Fake:
        def __init__(self, sample):
            self.sample = np.asarray(sample)

        def __len__(self):
            return len(self.sample)

    sim = Fake([0] * 300 + [2] * 700)
    data = Fake([0] * 900 + [2] * 100 + [3] * 500)  # other mixture, and a sample sim lacks
    pick = matched_mixture(sim, data, 1000, np.random.default_rng(0))
    shares = np.bincount(data.sample[pick], minlength=4) / len(pick)
    assert shares[0] == pytest.approx(0.3, abs=0.01) and shares[2] == pytest.approx(0.7,
                                                                                    abs=0.01)
    assert shares[3] == 0


def test_models_are_permutation_invariant_where_they_should_be():
    from aihep.tau.candidates import HIGH_LEVEL, MAX_PARTICLES, PARTICLE_FEATURES
    from aihep.tau.model import TauModelConfig, build_tau_model

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, MAX_PARTICLES, len(PARTICLE_FEATURES), generator=g) * 0.1
    x[..., 5:] = 0
    x[..., 5] = 1  # all charged hadrons
    mask = torch.zeros(4, MAX_PARTICLES, dtype=torch.bool)
    mask[:, :10] = True
    hl = torch.randn(4, len(HIGH_LEVEL), generator=g)
    perm = torch.cat([torch.randperm(10, generator=g), torch.arange(10, MAX_PARTICLES)])
    for kind in ("deeptau-cnn", "part-lite"):
        model = build_tau_model(TauModelConfig(kind=kind, channels=8)).eval()
        a, _ = model(x, mask, hl)
        b, _ = model(x[:, perm], mask[:, perm], hl)
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
