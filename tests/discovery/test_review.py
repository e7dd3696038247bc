"""The reviewer: each deterministic check stops a claim it should stop, and passes a clean one.

The failures mirror the false claims seen on blind tasks: a bump outside the classifier's
window, a negative yield, a background fit that fails in the sidebands, a cut that sculpts.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aihep.discovery.dijet import bin_integrals
from aihep.discovery.review import (
    Check,
    Review,
    check_background_fit,
    check_smooth_selection,
    check_window,
    check_yield,
    review,
)

EDGES = np.arange(2600.0, 6001.0, 100.0)
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])


def _dijet_counts(n: int, seed: int) -> np.ndarray:
    shape = bin_integrals(EDGES, np.array([1.0, 8.0, 6.0]), 13000.0)
    return np.random.default_rng(seed).poisson(n * shape / shape.sum()).astype(float)


def _dijet_mjj(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = _dijet_counts(n, seed).astype(int)
    return np.repeat(EDGES[:-1], counts) + rng.uniform(0, 100.0, counts.sum())


def test_window_check():
    assert check_window((3300, 3700), 3510.0, (3400, 3600)).passed
    outside = check_window((3200, 3600), 3900.0, (3500, 4300))
    assert not outside.passed and "outside the window 3200-3600" in outside.detail
    # without a signal fit the bump window's centre is judged
    assert not check_window((3200, 3600), None, (4000, 4800)).passed


@pytest.mark.parametrize(("observed", "expected", "fitted", "passed"), [
    (150.0, 100.0, 60.0, True),
    (150.0, 100.0, -10_000.0, False),  # the negative yields of the false claims
    (90.0, 100.0, 20.0, False),        # a deficit in the window
    (150.0, 100.0, None, False),       # no signal fit at all
])
def test_yield_check_is_one_sided(observed, expected, fitted, passed):
    assert check_yield(observed, expected, fitted, 5.0).passed is passed


def test_background_fit_check_passes_a_dijet_spectrum_and_fails_a_kinked_one():
    clean = _dijet_counts(200_000, 1)
    assert check_background_fit(EDGES, clean, (3400, 3600)).passed
    kinked = clean * np.where(CENTRES > 4200, 1.6, 1.0)  # a generator cut or turn-on edge
    result = check_background_fit(EDGES, np.round(kinked), (3400, 3600))
    assert not result.passed and "background model fails" in result.detail


def test_background_fit_ignores_a_large_signal_in_the_left_out_region():
    counts = _dijet_counts(200_000, 2)
    counts += np.round(3000 * np.exp(-0.5 * ((CENTRES - 3500) / 90.0) ** 2))
    assert check_background_fit(EDGES, counts, (3250, 3750)).passed


def test_smooth_selection_check_catches_a_sculpting_cut():
    mjj = _dijet_mjj(300_000, 3)
    rng = np.random.default_rng(4)
    smooth = rng.random(len(mjj)) < 0.02 + 0.01 * (mjj - 2600) / 3400
    assert check_smooth_selection(mjj, smooth, EDGES, (3400, 3600)).passed
    # a cut trained in 3.2-3.6 TeV that keeps three times more background above 4 TeV
    sculpted = rng.random(len(mjj)) < np.where(mjj > 4000, 0.06, 0.02)
    result = check_smooth_selection(mjj, sculpted, EDGES, (3400, 3600))
    assert not result.passed and "sculpts" in result.detail


def test_a_failed_check_stops_the_claim_and_says_why():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_hunt import FAST, _table

    from aihep.discovery.hunt import hunt

    result = hunt(_table(40000, 500, 1), FAST)
    assert result.significant and result.review.passed and result.discovery
    assert [c.name for c in result.review.checks] == ["window", "yield", "background_fit",
                                                      "smooth_selection", "second_opinion"]
    vetoed = dataclasses.replace(result, review=Review((
        Check("window", False, "resonance at 3900 GeV outside the window"),)))
    assert vetoed.significant and not vetoed.discovery
    summary = vetoed.to_dict()
    assert "m_res" not in summary and "largest_excess_fit" in summary
    assert summary["no_claim_because"] == ["resonance at 3900 GeV outside the window"]


def test_review_of_a_clean_candidate_passes_every_check():
    mjj = np.concatenate([_dijet_mjj(300_000, 5),
                          np.random.default_rng(6).normal(3500, 90, 600)])
    selected = np.random.default_rng(7).random(len(mjj)) < 0.05
    selected[-600:] = True  # the cut keeps the signal
    counts, _ = np.histogram(mjj[selected], EDGES)
    outcome = review(mjj, selected, EDGES, (3300, 3700), (3400, 3600), observed=float(
        counts[(CENTRES > 3400) & (CENTRES < 3600)].sum()), expected=float(
        counts[(CENTRES > 3400) & (CENTRES < 3600)].sum() - 400), mass_gev=3500.0,
        n_signal_selected=600.0, n_signal_error=40.0, width_gev=90.0)
    assert outcome.passed, outcome.to_dict()


def test_a_bump_that_stays_outside_the_trained_window_after_refinement_is_no_claim(
        monkeypatch):
    """A 'classifier' that always prefers events 300-700 GeV above its own window (a cut that
    learnt mjj, as in the false claims): the scan finds a strong bump outside the window, the
    refinement retrains around it and the bump moves out again: significant, not a claim."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_hunt import FAST, _table

    import aihep.discovery.hunt as hunt_module

    def sculpting(method, x, mjj, sr, *args):
        rng = np.random.default_rng(int(sr.lo_gev))
        above = (mjj > sr.hi_gev + 300) & (mjj < sr.hi_gev + 700)
        return rng.random(len(mjj)) + 3.0 * above * (rng.random(len(mjj)) < 0.5), None

    monkeypatch.setattr(hunt_module, "_run_method", sculpting)
    result = hunt_module.hunt(_table(40000, 0, 11), FAST.model_copy(  # the full scan finds it
        update={"keep_fraction": 0.2, "bump_scan": "spectrum"}))
    assert result.significant and result.to_dict()["refined"]
    assert not result.discovery
    assert "window" in result.review.failed
    assert not (result.best.window_gev[0] <= result.review.checks[0].values["mass_gev"]
                <= result.best.window_gev[1])


def test_reference_selection_catches_a_cut_that_sculpts_background_too():
    """The same cut on the background-only reference: a bump it makes in the reference as
    well is sculpting; a real signal stands out of the reference's prediction."""
    from aihep.discovery.review import check_reference_selection

    rng = np.random.default_rng(12)
    data, ref = _dijet_mjj(200_000, 13), _dijet_mjj(200_000, 14)

    def sculpt(mjj):  # keeps 2%, but 8% in 3.4-3.6 TeV: background made into a bump
        return rng.random(len(mjj)) < np.where((mjj > 3400) & (mjj < 3600), 0.08, 0.02)

    sculpted = check_reference_selection(data, sculpt(data), ref, sculpt(ref), EDGES,
                                         (3300, 3700))
    assert not sculpted.passed and "sculpting" in sculpted.detail
    signal = rng.normal(3500, 90, 400)
    with_signal = np.concatenate([data, signal])
    keep = np.concatenate([rng.random(len(data)) < 0.02, np.ones(len(signal), bool)])
    real = check_reference_selection(with_signal, keep, ref, rng.random(len(ref)) < 0.02,
                                     EDGES, (3250, 3750))
    assert real.passed and real.values["z"] > 5


def test_a_real_signal_passes_every_check_including_the_reference():
    """CWoLa never trains on the reference, so its cut is applied to it: a strong real
    signal is not vetoed by any check (the 'not vetoed' half of every check above)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_hunt import FAST, _table

    from aihep.discovery.hunt import hunt

    loose = FAST.model_copy(update={"keep_fraction": 0.2})  # sidebands to normalize in
    result = hunt(_table(40000, 500, 1), loose, reference=_table(40000, 0, 21))
    checks = {c.name: c for c in result.review.checks}
    assert {"reference_selection", "second_opinion"} <= set(checks)
    assert result.discovery, result.review.to_dict()
    assert checks["reference_selection"].values["z"] > 5
    opinion = checks["second_opinion"].values  # median of three retrainings, each recorded
    assert len(opinion["seeds"]) == 3 and len(opinion["per_seed"]) == 3
    seen = [o for o in opinion["per_seed"] if o is not None]
    assert len(seen) >= 2 and abs(np.median([o["mass_gev"] for o in seen]) - 3500) < 100


def test_second_opinion_must_agree_but_need_not_be_significant():
    from aihep.discovery.review import check_second_opinion

    candidate = ((3500.0, 10.0), (400.0, 80.0))
    assert check_second_opinion("ae", *candidate, (3520.0, 15.0), (350.0, 100.0)).passed
    elsewhere = check_second_opinion("ae", *candidate, (3900.0, 15.0), (380.0, 90.0))
    assert not elsewhere.passed and "disagree" in elsewhere.detail
    negative_partner = check_second_opinion("ae", (3500.0, 10.0), (-9000.0, 300.0),
                                            (3510.0, 12.0), (300.0, 90.0))
    assert not negative_partner.passed
    silent = check_second_opinion("ae", *candidate, None, None)  # sees nothing: no veto
    assert silent.passed and "no peak" in silent.detail
    assert not check_second_opinion("ae", None, None, (3500.0, 9.0), (400.0, 80.0)).passed


def test_second_opinion_is_the_median_over_seeds():
    """One lucky or unlucky retraining neither makes nor breaks the second opinion."""
    import pytest

    from aihep.discovery.review import check_second_opinion, median_opinion

    candidate = ((3500.0, 10.0), (400.0, 80.0))
    agree = ((3510.0, 12.0), (380.0, 90.0))
    outlier_seed = ((3950.0, 20.0), (900.0, 150.0))
    median = median_opinion([agree, outlier_seed, ((3495.0, 14.0), (420.0, 95.0))])
    assert median == ((3510.0, 14.0), (420.0, 95.0))
    assert check_second_opinion("cwola", *candidate, *median).passed
    # the single outlying seed alone would have vetoed the claim
    assert not check_second_opinion("cwola", *candidate, *outlier_seed).passed
    # most seeds see no peak: the opinion is "no peak" (nothing to compare, no veto)
    assert median_opinion([None, None, outlier_seed]) is None
    assert median_opinion([agree, None]) == agree  # a tie still compares
    assert median_opinion([agree]) == agree
    with pytest.raises(ValueError, match="at least one"):
        median_opinion([])
