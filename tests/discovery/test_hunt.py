"""The hunt pipeline end to end on synthetic feature tables, and its CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from aihep.cli import app
from aihep.discovery.classifiers import ClassifierConfig
from aihep.discovery.dijet import bin_integrals
from aihep.discovery.hunt import HuntConfig, hunt, write_hunt_outputs
from aihep.errors import InputError
from aihep.io.lhco import write_feature_csv, write_labels_csv
from aihep.report.hunt import write_hunt_report

FAST = HuntConfig(methods=("cwola",), signal_region_gev=(3300.0, 3700.0),  # placed by hand
                  keep_fraction=0.05, n_folds=3, n_toys=60,
                  classifier=ClassifierConfig(n_ensemble=1, max_iter=60))


def _table(n_bkg: int, n_sig: int, seed: int, mass_gev: float = 3500.0
           ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    edges = np.arange(2600.0, 6001.0, 50.0)
    shape = bin_integrals(edges, np.array([1.0, 8.0, 6.0]), 13000.0)
    counts = rng.multinomial(n_bkg, shape / shape.sum())
    mjj_b = np.repeat(edges[:-1], counts) + rng.uniform(0, 50.0, n_bkg)
    mjj_s = rng.normal(mass_gev, 90.0 * mass_gev / 3500.0, n_sig)
    feats_b = [rng.gamma(2.0, 40.0, n_bkg), rng.gamma(2.0, 60.0, n_bkg),
               rng.beta(5, 3, n_bkg), rng.beta(5, 3, n_bkg)]
    feats_s = [rng.normal(100.0, 8.0, n_sig), rng.normal(400.0, 20.0, n_sig),
               rng.beta(2, 6, n_sig), rng.beta(2, 6, n_sig)]
    table = {"mjj": np.concatenate([mjj_b, mjj_s])}
    for name, b, s in zip(("mj1", "delta_mj", "tau21_j1", "tau21_j2"), feats_b, feats_s,
                          strict=True):
        table[name] = np.concatenate([b, s])
    table["label"] = np.concatenate([np.zeros(n_bkg, int), np.ones(n_sig, int)])
    order = rng.permutation(len(table["mjj"]))
    table = {k: v[order] for k, v in table.items()}
    table["index"] = np.arange(len(order))[::-1].copy()  # deliberately not sorted
    return table


def test_injected_resonance_found_and_measured():
    result = hunt(_table(40000, 500, 1), FAST)
    assert result.discovery
    assert abs(result.extraction.mass.value - 3500.0) < 0.05 * 3500.0
    n = result.extraction.n_signal
    assert abs(n.value - 500) < 3 * n.error
    peaks = result.daughters
    assert abs(peaks["m_j1"].value - 100.0) < 10.0
    assert abs(peaks["m_j2"].value - 500.0) < 30.0
    assert np.all(np.diff(result.index) > 0)  # scores sorted by index
    table = _table(40000, 500, 1)
    np.testing.assert_array_equal(table["index"][result.order], result.index)
    # after the claim the scores are the posterior: they rank all events better than the
    # classifier alone (trained in one window) and than tau21
    from aihep.discovery.metrics import auc

    y = table["label"][result.order]
    assert result.final_score == "posterior"
    classifier = result.method_scores[result.best.method]
    tau21 = -(table["tau21_j1"] + table["tau21_j2"])[result.order]
    assert auc(result.scores, y) > max(auc(classifier, y), auc(tau21, y))


def test_autoencoder_hunt_with_reference_finds_the_resonance():
    from aihep.discovery.autoencoder import AutoencoderConfig
    from aihep.discovery.outliers import OutlierConfig
    from aihep.nn.train import TrainConfig

    ae = AutoencoderConfig(train=TrainConfig(epochs=10, learning_rate=3e-3, patience=4))
    config = FAST.model_copy(update={"methods": ("ae",), "outlier": OutlierConfig(
        autoencoder=ae)})
    result = hunt(_table(15000, 350, 3), config, reference=_table(15000, 0, 4))
    assert result.discovery
    assert abs(result.extraction.mass.value - 3500.0) < 0.05 * 3500.0
    assert set(result.method_scores) == {"ae"}
    # the reference (same dijet model, no signal) measures the spurious signal: its yield is
    # a fluctuation within a few sigma, so it adds little to the yield's error
    spurious = result.to_dict()["spurious_signal"]
    assert abs(spurious["value"]) < 4 * spurious["error"]
    assert result.extraction.n_signal.error < 1.5 * result.extraction.before_cut.n_signal.error


def test_background_only_reports_no_discovery():
    result = hunt(_table(40000, 0, 2), FAST)
    assert not result.discovery
    assert result.p_value > 1e-3
    assert result.uncut_fit_pvalue > 1e-3  # a dijet-like spectrum
    summary = result.to_dict()
    assert "m_res" not in summary and "n_signal" not in summary  # no resonance claimed
    limits = summary["limits"]  # nothing found: CLs limits at the SR centre
    assert set(limits) == {"all events", "cwola"}
    total, selected = limits["all events"][0], limits["cwola"][0]
    assert total["mass_gev"] == 3500.0
    assert 0 < selected["observed"] < total["observed"]  # the cut removes background
    assert total["expected_minus2"] < total["expected"] < total["expected_plus2"]


def test_parallel_trials_equal_serial():
    from aihep.workflow.executor import ExecutorConfig

    table = _table(8000, 200, 5)  # equality only: a small table
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": (3100.0, 3900.0),
                                     "n_toys": 20})
    serial = hunt(table, config)
    parallel = hunt(table, config, executor=ExecutorConfig(kind="local", workers=2))
    np.testing.assert_array_equal(serial.scores, parallel.scores)
    assert [t.bump.z_local for t in serial.trials] == [t.bump.z_local for t in parallel.trials]


def test_a_killed_hunt_resumes_from_its_finished_trials(tmp_path, monkeypatch):
    import aihep.discovery.hunt as hunt_module

    table = _table(15000, 300, 5)
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": (3100.0, 3900.0),
                                     "n_toys": 20})
    real = hunt_module._run_method
    calls = []

    def dies_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed during the third trial
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(hunt_module, "_run_method", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        hunt(table, config, checkpoint=tmp_path / "trials")
    assert len(list((tmp_path / "trials").glob("*.npz"))) == 2
    calls.clear()
    monkeypatch.setattr(hunt_module, "_run_method", lambda *a, **k: (
        calls.append(a[3]), real(*a, **k))[1])
    resumed = hunt(table, config, checkpoint=tmp_path / "trials")
    scan = hunt_module.windows(config, table["mjj"])
    assert len([sr for sr in calls if sr in scan]) == len(scan) - 2  # only the unfinished
    fresh = hunt(table, config)
    np.testing.assert_array_equal(resumed.scores, fresh.scores)
    # another configuration or other data do not reuse them
    keys = {hunt_module._TrialStore(None, c, [t["mjj"]]).key for c, t in (
        (config, table), (config.model_copy(update={"seed": 9}), table),
        (config, _table(15000, 300, 6)))}
    assert len(keys) == 3


def test_a_hunt_killed_in_its_second_opinion_keeps_the_refinement_and_finished_seeds(
        tmp_path, monkeypatch):
    """After the scan a claim's refinement and second-opinion retrainings are stored too and
    named in the progress: killed during the second opinion's second seed, the re-run redoes
    only the unfinished retrainings and gives the same answer."""
    import aihep.discovery.hunt as hunt_module

    table = _table(40000, 500, 1)
    real = hunt_module._run_method
    seeds = [FAST.seed + 1 + i for i in range(FAST.opinion_seeds)]  # cwola alone: other seeds
    stages: list[str] = []
    calls: list[tuple] = []

    def killed_in_the_second_opinion_seed(*args, **kwargs):
        if stages and stages[-1].startswith(f"second opinion: cwola with seed {seeds[1]} "):
            raise KeyboardInterrupt
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(hunt_module, "_run_method", killed_in_the_second_opinion_seed)
    with pytest.raises(KeyboardInterrupt):
        hunt(table, FAST, checkpoint=tmp_path / "trials",
             progress=lambda what, done, total: stages.append(what))
    assert any(s.startswith("refining: cwola retrained in ") for s in stages)
    assert any(s.startswith(f"second opinion: cwola with seed {seeds[0]} ") for s in stages)
    stored = [p.name for p in (tmp_path / "trials").glob("*.npz")]
    assert sum("refine" in n for n in stored) == 1
    assert sum("opinion" in n for n in stored) == 1  # the first seed; the second was killed
    calls.clear()
    monkeypatch.setattr(hunt_module, "_run_method", lambda *a, **k: (
        calls.append(a[3]), real(*a, **k))[1])
    resumed = hunt(table, FAST, checkpoint=tmp_path / "trials")
    assert len(calls) == FAST.opinion_seeds - 1  # only the unfinished retrainings
    fresh = hunt(table, FAST)
    np.testing.assert_array_equal(resumed.scores, fresh.scores)
    assert resumed.review.to_dict() == fresh.review.to_dict()


def test_sr_scan_uses_nearest_window_and_lee():
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": (2900.0, 4300.0)})
    result = hunt(_table(40000, 500, 3), config)
    assert len(result.trials) >= 5
    scan_best = result.scan_best or result.best
    assert result.p_value >= scan_best.bump.p_global  # the claim stays the scan's p
    assert scan_best.window_gev[0] <= 3500.0 <= scan_best.window_gev[1] + 200.0
    # the refinement re-centres the window on the resonance and counts as one more trial
    assert result.to_dict()["refined"] and result.trials[-1] is result.best
    assert result.best.window_gev[0] <= 3500.0 <= result.best.window_gev[1]
    assert abs(result.extraction.mass.value - 3500.0) < 0.05 * 3500.0


@pytest.mark.slow  # two hunts of five windows: ~1 min
def test_bump_scan_in_the_signal_region_keeps_each_bump_in_its_trained_window():
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": (2900.0, 4300.0),
                                     "bump_scan": "signal_region"})
    result = hunt(_table(40000, 300, 3), config)
    for trial in result.trials:
        assert trial.window_gev[0] <= 0.5 * sum(trial.bump.window_gev) <= trial.window_gev[1]
    spectrum = hunt(_table(40000, 300, 3), config.model_copy(update={"bump_scan": "spectrum"}))
    # the same cuts; fewer windows scanned per trial: a smaller global p at the resonance
    assert result.best.bump.n_eff_trials < spectrum.best.bump.n_eff_trials
    assert result.discovery
    assert abs(result.extraction.mass.value - 3500.0) < 0.05 * 3500.0


def test_outputs_are_complete_and_aligned(tmp_path):
    table = _table(20000, 300, 4)
    result = hunt(table, FAST)
    write_hunt_outputs(result, tmp_path, FAST, [], table["label"], write_hunt_report)
    with open(tmp_path / "scores.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["index", "score"]
    assert [int(r[0]) for r in rows[1:]] == sorted(table["index"].tolist())
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("p_value", "significance", "p_value_local", "significance_local", "m_res",
                "n_signal", "signal_percentage", "daughter_masses"):
        assert key in results
    # the total yield's parts (split estimator): selected + rejected (>= 0) = total
    parts = results["n_signal_selected"]["value"] + results["n_signal_rejected"]["value"]
    assert results["total_yield"] == "split" and results["n_signal_rejected"]["value"] >= 0
    assert abs(parts - results["n_signal"]["value"]) < 1e-6 * max(1.0, abs(parts))
    assert (tmp_path / "manifest.json").exists()
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5
    assert "signal events the cut rejected (bounded at 0)" in page


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda t: t.pop("tau21_j2"), "missing tau21_j2"),
    (lambda t: t["mj1"].__setitem__(3, np.nan), "mj1: expected finite values"),
])
def test_bad_tables_are_clear_errors(mutate, match):
    table = _table(2000, 0, 5)
    mutate(table)
    with pytest.raises(InputError, match=match):
        hunt(table, FAST)


def test_empty_signal_region():
    config = FAST.model_copy(update={"signal_region_gev": (7000.0, 7400.0)})
    with pytest.raises(InputError, match="signal_region_gev: expected signal regions that "
                       "overlap the bump hunt's fit range"):
        hunt(_table(2000, 0, 6), config)  # an in-window bump hunt could never test it
    with pytest.raises(InputError, match="signal region: expected at least 10 events"):
        hunt(_table(2000, 0, 6), config.model_copy(update={"bump_scan": "spectrum"}))


def test_cli_hunt_on_lhco_csv_and_bad_reference(tmp_path):
    table = _table(10000, 250, 7)
    write_feature_csv(tmp_path / "data.csv", table, table["index"])
    write_labels_csv(tmp_path / "labels.csv", table["label"], table["index"])
    runner = CliRunner()
    out = tmp_path / "hunt"
    out.mkdir()  # what a hunt killed mid-run leaves behind: re-running it must work
    (out / ".progress.json").write_text('{"what": "scored cwola", "done": 1, "total": 4}')
    small = tmp_path / "small.yaml"  # fewer, smaller classifiers through --config
    small.write_text("folds: 3\nensemble: 1\ntoys: 20\n")
    result = runner.invoke(app, ["hunt", str(tmp_path / "data.csv"), "--labels",
                                 str(tmp_path / "labels.csv"), "-m", "supervised",
                                 "--config", str(small), "--keep-fraction", "0.05", "--sr",
                                 "3300,3700", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["best_trial"]["method"] == "supervised"
    resolved = json.loads((out / "manifest.json").read_text())["config"]
    assert resolved["n_folds"] == 3 and resolved["classifier"]["n_ensemble"] == 1
    assert not (out / ".progress.json").exists()

    bad_ref = tmp_path / "ref.csv"
    bad_ref.write_text("index,m_JJ\n0,3000\n")
    out2 = tmp_path / "hunt2"
    result = runner.invoke(app, ["hunt", str(tmp_path / "data.csv"), "--reference",
                                 str(bad_ref), "-m", "idealized", "--out", str(out2)])
    assert result.exit_code == 2
    assert "ref.csv: header" in result.output
    assert not out2.exists()


def test_a_tight_cut_is_loosened_not_dropped():
    # 0.2% of the SR is a handful of events: the window must stay, with the top 80 events
    config = FAST.model_copy(update={"keep_fraction": 0.002, "min_selected": 80})
    table = _table(8000, 150, 7)
    result = hunt(table, config)
    assert len(result.trials) == 1 + result.to_dict()["refined"]  # the SR, its refinement
    assert all(t.n_selected >= 80 for t in result.trials)
    assert result.selected.sum() == result.best.n_selected


def test_no_signal_region_given_means_a_scan(tmp_path, one_line_error):
    """No default window: a fixed one would sit on someone's resonance (the LHC Olympics'
    W' at 3.5 TeV sat in the old default 3.3-3.7 TeV). Without --sr the SR slides."""
    from typer.testing import CliRunner

    from aihep.cli import app
    from aihep.discovery.hunt import windows

    mjj = _table(4000, 0, 3)["mjj"]
    slid = windows(HuntConfig(), mjj)
    assert len(slid) > 3 and slid[0].lo_gev < 3000 < 4000 < slid[-1].hi_gev
    assert [(w.lo_gev, w.hi_gev) for w in windows(FAST, mjj)] == [(3300.0, 3700.0)]
    assert windows(FAST.model_copy(update={"sr_scan": True}), mjj) == slid
    table = _table(2000, 0, 3)
    write_feature_csv(tmp_path / "data.csv", table, table["index"])
    out = tmp_path / "hunt"
    result = CliRunner().invoke(app, ["hunt", str(tmp_path / "data.csv"), "--sr", "3300,3700",
                                      "--sr-scan", "--out", str(out)])
    assert "--sr-scan" in one_line_error(result, out)


@pytest.mark.parametrize("sr", ["3700,3300", "3500,3500", "-10,3000"])
def test_inverted_signal_region_is_named(tmp_path, sr):
    """An inverted --sr used to say "expected at least 10 events (found 0)"."""
    from typer.testing import CliRunner

    from aihep.cli import app

    table = tmp_path / "t.csv"
    table.write_text(",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
                     "0,3000,100,50,0.5,0.5\n")
    result = CliRunner().invoke(app, ["hunt", str(table), "--out", str(tmp_path / "h"),
                                      "--sr", sr])
    assert result.exit_code == 2 and "signal_region_gev" in result.stderr
    assert "0 <= LO < HI" in result.stderr and not (tmp_path / "h").exists()


@pytest.mark.parametrize("mass", [pytest.param(2900.0, marks=pytest.mark.slow), 4600.0])
def test_a_resonance_away_from_3p5_tev_is_found_with_the_scan_range_from_the_data(mass):
    table = _table(20000, 400, 11, mass_gev=mass)
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": None})
    result = hunt(table, config)
    assert result.discovery, result.to_dict().get("no_claim_because")
    assert abs(result.extraction.mass.value - mass) < 0.03 * mass
    lo, hi = result.best.window_gev
    assert lo <= mass <= hi  # the (refined) window holds the resonance



def test_cli_bad_bump_scan_is_one_line(tmp_path, one_line_error):
    table = _table(500, 0, 8)
    write_feature_csv(tmp_path / "data.csv", table, table["index"])
    out = tmp_path / "hunt"
    result = CliRunner().invoke(app, ["hunt", str(tmp_path / "data.csv"), "--bump-scan",
                                      "everywhere", "--out", str(out)])
    assert "bump_scan" in one_line_error(result, out)


def test_in_window_scan_drops_signal_regions_below_the_fit_range():
    """The turn-on benchmark task: SRs under the trigger turn-on, below the fit range, made
    every in-window bump hunt fail; they are not trained now, and none left is one clear
    error naming scan_range_gev."""
    from aihep.discovery.hunt import testable_regions, windows
    from aihep.discovery.weak import SignalRegion

    edges = np.arange(3200.0, 8301.0, 100.0)
    regions = [SignalRegion(lo, lo + 400.0, 200.0) for lo in (2500.0, 2700.0, 3000.0, 3200.0)]
    kept = testable_regions(regions, edges, "data.csv")
    assert [r.lo_gev for r in kept] == [3000.0, 3200.0]  # 3000-3400 reaches into the range
    with pytest.raises(InputError, match=r"data\.csv: scan_range_gev.*3200-8300 GeV"):
        testable_regions(regions[:2], edges, "data.csv")
    config = FAST.model_copy(update={"sr_scan": True, "scan_range_gev": (1000.0, 1800.0),
                                     "bump_scan": "signal_region"})
    with pytest.raises(InputError, match="scan_range_gev"):
        hunt(_table(4000, 0, 6), config)  # before any training
    assert windows(config, np.array([1500.0]))  # the scan itself is unchanged
