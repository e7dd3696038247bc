"""Tau-ID performance: DeepTau discriminants, misidentification against efficiency, working
points fixed in simulation or at equal efficiency in data, efficiency against pT and decay
mode. Pure functions of class probabilities and labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from aihep.tau.data import ELECTRON, JET, MUON, TAU

EFFICIENCIES = (0.5, 0.7)
PT_EDGES_GEV = (20.0, 30.0, 40.0, 60.0, 100.0, 200.0, 500.0, 2000.0)


def discriminant(probabilities: np.ndarray, against: int) -> np.ndarray:
    """D = p_tau / (p_tau + p_against) (DeepTau's D_jet, D_e, D_mu)."""
    p_tau = probabilities[:, TAU]
    return p_tau / np.maximum(p_tau + probabilities[:, against], 1e-12)


def threshold_for(scores: np.ndarray, efficiency: float) -> float:
    """The cut passing ``efficiency`` of ``scores`` (the tau scores)."""
    return float(np.quantile(scores, 1.0 - efficiency))


def passing(scores: np.ndarray, cut: float) -> tuple[float, float, int]:
    """Fraction above ``cut``, its binomial error and the number passing."""
    n = len(scores)
    k = int((scores > cut).sum())
    if n == 0:
        return float("nan"), float("nan"), 0
    f = k / n
    return f, float(np.sqrt(max(f * (1 - f), 1.0 / n) / n)), k


def misid_curve(probabilities: np.ndarray, labels: np.ndarray,
                efficiencies: np.ndarray | None = None) -> dict[str, list[float]]:
    """Jet, electron and muon misidentification rates at tau efficiencies (each with its
    own discriminant)."""
    efficiencies = np.linspace(0.2, 0.95, 16) if efficiencies is None else efficiencies
    out: dict[str, list[float]] = {"tau_efficiency": [float(e) for e in efficiencies]}
    for name, against in (("jet", JET), ("e", ELECTRON), ("mu", MUON)):
        d = discriminant(probabilities, against)
        tau = d[labels == TAU]
        other = d[labels == against]
        out[f"{name}_misid"] = [passing(other, threshold_for(tau, e))[0] if len(tau) else
                                float("nan") for e in efficiencies]
    return out


def working_points(sim_probabilities: np.ndarray, sim_labels: np.ndarray,
                   data_probabilities: np.ndarray, data_labels: np.ndarray
                   ) -> list[dict[str, Any]]:
    """Rows per working point kind and tau efficiency: ``sim-fixed`` (cuts that give the
    efficiency on simulated taus, applied to data: what an analysis does) and
    ``data-equal-eff`` (cuts set on data taus, to compare misidentification at equal
    efficiency; data labels are used for this evaluation only)."""
    rows = []
    d_sim = {k: discriminant(sim_probabilities, k) for k in (JET, ELECTRON, MUON)}
    d_data = {k: discriminant(data_probabilities, k) for k in (JET, ELECTRON, MUON)}
    for wp in ("sim-fixed", "data-equal-eff"):
        for eff in EFFICIENCIES:
            row: dict[str, Any] = {"working_point": wp, "tau_eff": eff}
            source, source_labels = (d_sim, sim_labels) if wp == "sim-fixed" else (
                d_data, data_labels)
            cut = threshold_for(source[JET][source_labels == TAU], eff)
            sim_eff = passing(d_sim[JET][sim_labels == TAU], cut)[0]
            data_eff, data_eff_err, _ = passing(d_data[JET][data_labels == TAU], cut)
            jet, jet_err, jet_pass = passing(d_data[JET][data_labels == JET], cut)
            row.update({"cut": cut, "sim_tau_eff": sim_eff, "data_tau_eff": data_eff,
                        "data_tau_eff_error": data_eff_err,
                        "data_sim_eff_ratio": data_eff / sim_eff if sim_eff else float("nan"),
                        "jet_misid": jet, "jet_misid_error": jet_err,
                        "jet_passing": jet_pass,
                        "jets": int((data_labels == JET).sum())})
            for name, k in (("e", ELECTRON), ("mu", MUON)):
                lepton_cut = threshold_for(source[k][source_labels == TAU], eff)
                row[f"{name}_misid"] = passing(d_data[k][data_labels == k], lepton_cut)[0]
            rows.append(row)
    return rows


def efficiency_by(probabilities: np.ndarray, labels: np.ndarray, pt_gev: np.ndarray,
                  decay_mode: np.ndarray, cut: float) -> dict[str, Any]:
    """Tau efficiency (D_jet above ``cut``) against true visible pT and per true decay
    mode, with binomial errors."""
    d = discriminant(probabilities, JET)
    tau = labels == TAU
    bins = np.digitize(pt_gev, PT_EDGES_GEV) - 1
    by_pt = [passing(d[tau & (bins == b)], cut)[:2] for b in range(len(PT_EDGES_GEV) - 1)]
    modes = sorted({int(m) for m in decay_mode[tau] if m >= 0})
    return {"pt_edges_gev": list(PT_EDGES_GEV),
            "efficiency_vs_pt": [e for e, _ in by_pt], "error_vs_pt": [s for _, s in by_pt],
            "efficiency_by_decay_mode": {str(m): passing(d[tau & (decay_mode == m)], cut)[0]
                                         for m in modes}}
