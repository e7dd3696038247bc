"""Tau-ID report: misidentification against efficiency (data and simulation), efficiency
against pT and decay mode at the simulation-fixed 50% working point, and the working-point
table with the data/simulation efficiency ratio. Draws the evaluation it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def misid_figure(curves: dict[str, Any]) -> Any:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, name in zip(axes, ("jet", "e", "mu"), strict=True):
        for domain, style in (("simulation", "--"), ("data", "-")):
            c = curves[domain]
            ax.plot(c["tau_efficiency"], c[f"{name}_misid"], style, marker="o", ms=3,
                    label=domain)
        ax.set_yscale("log")
        ax.set_xlabel("tau efficiency")
        ax.set_ylabel(f"{name} -> tau misidentification")
        ax.legend(fontsize=9)
    return fig


def efficiency_figure(efficiency: dict[str, Any]) -> Any:
    plt = pyplot()
    fig, (ax_pt, ax_dm) = plt.subplots(1, 2, figsize=(12, 4))
    for domain, marker in (("simulation", "s"), ("data", "o")):
        e = efficiency[domain]
        edges = np.asarray(e["pt_edges_gev"])
        centres = np.sqrt(edges[:-1] * edges[1:])
        ax_pt.errorbar(centres, e["efficiency_vs_pt"], yerr=e["error_vs_pt"], marker=marker,
                       ls="none", label=domain)
        modes = list(e["efficiency_by_decay_mode"])
        shift = -0.15 if domain == "simulation" else 0.15
        ax_dm.bar(np.arange(len(modes)) + shift, list(e["efficiency_by_decay_mode"].values()),
                  width=0.3, label=domain)
        ax_dm.set_xticks(range(len(modes)), [f"DM {m}" for m in modes])
    ax_pt.set_xscale("log")
    ax_pt.set_xlabel("visible tau pT [GeV]")
    ax_pt.set_ylabel("tau efficiency (sim-fixed 50% cut)")
    ax_dm.set_ylabel("tau efficiency (sim-fixed 50% cut)")
    ax_pt.legend(fontsize=9)
    ax_dm.legend(fontsize=9)
    return fig


def write_tau_report(path: str | Path, evaluation: dict[str, Any],
                     title: str = "Tau identification") -> Path:
    rows = [{k: r[k] for k in ("working_point", "tau_eff", "sim_tau_eff", "data_tau_eff",
                                "data_sim_eff_ratio", "jet_misid", "jet_misid_error",
                                "e_misid", "mu_misid")} for r in evaluation["working_points"]]
    sections = [("Working points (data)", table_html(rows)),
                ("Misidentification against efficiency", figures_html(
                    [("jet, electron and muon misidentification", misid_figure(
                        evaluation["curves"]))])),
                ("Efficiency against pT and decay mode", figures_html(
                    [("at the cut giving 50% in simulation", efficiency_figure(
                        evaluation["efficiency_at_sim_fixed_50"]))]))]
    return write_report(path, title, sections)
