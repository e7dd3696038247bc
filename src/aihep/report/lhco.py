"""The LHCO dataset report: mjj spectrum, jet masses, tau21, signal vs background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, table_html, write_report

_LABELS = {0: "QCD background", 1: "W' -> X Y signal"}


def _hist_figure(data: dict[str, np.ndarray], key: str, bins: np.ndarray, xlabel: str,
                 reference: dict[str, np.ndarray] | None = None, log: bool = False,
                 density: bool = False) -> Any:
    import hist
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt
    import mplhep

    warnings.filterwarnings("ignore", message="Integer weights indicate poissonian data")
    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(8, 6))
    hists, labels = [], []
    for label in (0, 1):
        values = data[key][data["label"] == label]
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        h = hist.Hist.new.Var(bins, name=key).Weight()
        h.fill(values)
        hists.append(h)
        labels.append(f"{_LABELS[label]} ({len(values)})")
    if density:
        mplhep.histplot(hists, ax=ax, label=labels, density=True, histtype="step", lw=2)
    else:
        mplhep.histplot(hists, ax=ax, label=labels, stack=True, histtype="fill", alpha=0.7)
    if reference is not None:
        values = reference[key][np.isfinite(reference[key])]
        h = hist.Hist.new.Var(bins, name=key).Weight()
        h.fill(values)
        if not density:
            n_bkg = max(int((data["label"] == 0).sum()), 1)
            h = h * (n_bkg / max(len(values), 1))
        mplhep.histplot(h, ax=ax, label=f"reference ({len(values)}, scaled)", color="k",
                        histtype="errorbar", density=density, markersize=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("a.u." if density else "events / bin")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=13)
    mplhep.label.exp_text("aihep", "simulation", ax=ax, loc=0, fontsize=14)
    return fig


def write_lhco_report(directory: str | Path, data: dict[str, np.ndarray],
                      reference: dict[str, np.ndarray] | None, config: Any) -> Path:
    """Write ``directory/report.html`` for an LHCO-style dataset."""
    directory = Path(directory)
    mjj_bins = np.linspace(2000, 6000, 41)
    mass_bins = np.linspace(0, 800, 41)
    tau_bins = np.linspace(0, 1.2, 31)
    spectra = figures_html([
        ("Dijet invariant mass: data (stacked by truth) and reference",
         _hist_figure(data, "mjj", mjj_bins, r"$m_{JJ}$ [GeV]", reference, log=True)),
        ("Dijet invariant mass, normalized shapes",
         _hist_figure(data, "mjj", mjj_bins, r"$m_{JJ}$ [GeV]", None, density=True)),
    ])
    masses = figures_html([
        ("Lighter jet mass m_J1", _hist_figure(data, "mj1", mass_bins, r"$m_{J1}$ [GeV]",
                                               density=True)),
        ("Heavier jet mass m_J2", _hist_figure(data, "mj2", mass_bins, r"$m_{J2}$ [GeV]",
                                               density=True)),
    ])
    taus = figures_html([
        ("tau21 of the lighter jet", _hist_figure(data, "tau21_j1", tau_bins,
                                                  r"$\tau_{21}^{J1}$", density=True)),
        ("tau21 of the heavier jet", _hist_figure(data, "tau21_j2", tau_bins,
                                                  r"$\tau_{21}^{J2}$", density=True)),
    ])
    rows = []
    for name, table in (("data: background", {k: v[data["label"] == 0] for k, v in data.items()}),
                        ("data: signal", {k: v[data["label"] == 1] for k, v in data.items()}),
                        ("reference", reference)):
        if table is None or len(table["mjj"]) == 0:
            continue
        rows.append({"sample": name, "events": len(table["mjj"]),
                     "median mjj [GeV]": float(np.median(table["mjj"])),
                     "median mJ1 [GeV]": float(np.median(table["mj1"])),
                     "median mJ2 [GeV]": float(np.median(table["mj2"])),
                     "mean tau21 J1": float(np.nanmean(table["tau21_j1"])),
                     "mean tau21 J2": float(np.nanmean(table["tau21_j2"]))})
    summary = table_html(rows) + (
        f"<p class='note'>Trigger: leading anti-kT R={config.jet_radius} jet with pT &gt; "
        f"{config.trigger_pt_min_gev:g} GeV, |eta| &lt; {config.trigger_eta_max}. qcd-dijet "
        f"pT-hat &gt; {config.pthat_min_gev:g} GeV for data and reference. Signal: W' "
        f"{config.m_wprime_gev:g} GeV -> X {config.m_x_gev:g} GeV, Y {config.m_y_gev:g} GeV. "
        f"Seed {config.seed}. Full configuration in manifest.json.</p>")
    return write_report(directory / "report.html", "aihep: LHC Olympics-style dataset", [
        ("Samples", summary), ("Dijet mass", spectra), ("Jet masses", masses),
        ("N-subjettiness ratio", taus)])
