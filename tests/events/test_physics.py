"""Physics sanity of generated samples: resonance peaks, jet masses, tau21, QCD spectrum."""

from __future__ import annotations

import numpy as np

from aihep.events.features import features_from_events


def _mode(values: np.ndarray, lo: float, hi: float, bins: int) -> float:
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    i = int(np.argmax(counts))
    return 0.5 * (edges[i] + edges[i + 1])


def test_wprime_dijet_mass_peaks_at_wprime_mass(wprime_events):
    mjj = features_from_events(wprime_events)["mjj"]
    peak = _mode(mjj, 2000, 5000, 30)
    assert abs(peak - 3500) / 3500 < 0.05, peak
    assert abs(np.median(mjj) - 3500) / 3500 < 0.08


def test_wprime_jet_masses_peak_near_x_and_y(wprime_events):
    feats = features_from_events(wprime_events)
    light, heavy = _mode(feats["mj1"], 0, 300, 30), _mode(feats["mj2"], 200, 800, 30)
    assert abs(light - 100) < 25, light
    assert abs(heavy - 500) < 50, heavy
    assert np.all(feats["mj1"] <= feats["mj2"])


def test_signal_tau21_lower_than_qcd(wprime_events, qcd_events):
    sig, bkg = features_from_events(wprime_events), features_from_events(qcd_events)
    for key in ("tau21_j1", "tau21_j2"):
        assert np.nanmean(sig[key]) < np.nanmean(bkg[key]) - 0.05, key


def test_qcd_mjj_falls_steeply_above_threshold(qcd_events):
    mjj = features_from_events(qcd_events)["mjj"]
    counts, _ = np.histogram(mjj, bins=[2700, 3200, 3700, 4200, 4700])
    assert np.all(np.diff(counts) < 0), counts
    assert counts[0] > 4 * counts[2], counts


def test_trigger_applied_and_jets_ordered(qcd_events):
    import awkward as ak

    pt = qcd_events.jets.pt
    assert ak.all(ak.num(pt, axis=1) == 2)
    assert ak.all(pt[:, 0] > 1200.0)
    assert ak.all(pt[:, 0] >= pt[:, 1])
    assert ak.all(np.abs(qcd_events.jets.eta) < 2.5)
    n_const = qcd_events.jets.n_constituents
    assert ak.all(ak.num(qcd_events.jets.constituents, axis=2) == np.minimum(n_const, 200))
