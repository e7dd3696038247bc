"""Calorimeter-shower report: generated vs reference showers, drawn from an evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def _ratio_panels(plt: Any, title: str) -> tuple[Any, Any, Any]:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    top.set_title(title, fontsize=11)
    return fig, top, bottom


def _hist_with_ratio(reference: np.ndarray, generated: np.ndarray, bins: np.ndarray,
                     xlabel: str, title: str, log_x: bool = False) -> Any:
    plt = pyplot()
    fig, top, bottom = _ratio_panels(plt, title)
    ref, _ = np.histogram(reference, bins, density=True)
    gen, _ = np.histogram(generated, bins, density=True)
    top.stairs(ref, bins, fill=True, alpha=0.3, label="reference")
    top.stairs(gen, bins, linewidth=2, label="generated")
    top.legend(fontsize=9)
    with np.errstate(divide="ignore", invalid="ignore"):
        bottom.stairs(np.where(ref > 0, gen / ref, np.nan), bins, color="black")
    bottom.axhline(1.0, color="grey", linewidth=0.8)
    bottom.set_ylim(0.5, 1.5)
    bottom.set_ylabel("gen / ref")
    bottom.set_xlabel(xlabel)
    if log_x:
        top.set_xscale("log")
    return fig


def _profile_figure(reference: Any, generated: Any) -> Any:
    plt = pyplot()
    fig, top, bottom = _ratio_panels(plt, "mean energy per layer")
    layers = np.arange(reference.e_layer.shape[1])
    ref, gen = reference.e_layer.mean(0), generated.e_layer.mean(0)
    top.step(layers, ref, where="mid", label="reference")
    top.step(layers, gen, where="mid", label="generated")
    top.set_yscale("log")
    top.set_ylabel("<E layer> [MeV]")
    top.legend(fontsize=9)
    with np.errstate(divide="ignore", invalid="ignore"):
        bottom.step(layers, gen / ref, where="mid", color="black")
    bottom.axhline(1.0, color="grey", linewidth=0.8)
    bottom.set_ylim(0.5, 1.5)
    bottom.set_xlabel("layer")
    return fig


def _images_figure(reference: np.ndarray, generated: np.ndarray, layout: Any) -> Any:
    """Average energy per (layer, radius), angles summed: reference, generated, ratio."""
    plt = pyplot()

    def image(showers: np.ndarray) -> np.ndarray:
        return showers.reshape(len(showers), layout.n_layers, layout.n_alpha,
                               layout.n_radial).sum(2).mean(0)

    ref, gen = image(reference), image(generated)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    floor = max(ref[ref > 0].min() if (ref > 0).any() else 1e-6, 1e-6)
    from matplotlib.colors import LogNorm

    for ax, data, name in ((axes[0], ref, "reference"), (axes[1], gen, "generated")):
        shown = ax.imshow(np.maximum(data.T, floor), origin="lower", aspect="auto",
                          norm=LogNorm(vmin=floor, vmax=max(ref.max(), floor * 10)))
        ax.set_title(f"{name}: <E> [MeV]", fontsize=10)
        ax.set_xlabel("layer")
        ax.set_ylabel("radial bin")
        fig.colorbar(shown, ax=ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, gen / ref, np.nan)
    shown = axes[2].imshow(ratio.T, origin="lower", aspect="auto", cmap="coolwarm",
                           vmin=0.5, vmax=1.5)
    axes[2].set_title("generated / reference", fontsize=10)
    axes[2].set_xlabel("layer")
    fig.colorbar(shown, ax=axes[2])
    fig.tight_layout()
    return fig


def _response_figure(reference: Any, generated: Any, ref_e: np.ndarray, gen_e: np.ndarray
                     ) -> Any:
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    edges = np.geomspace(min(ref_e.min(), gen_e.min()), max(ref_e.max(), gen_e.max()) * 1.001,
                         9)
    for energies, features, name in ((ref_e, reference, "reference"),
                                     (gen_e, generated, "generated")):
        ratio = features.e_tot / energies
        which = np.digitize(energies, edges) - 1
        centre, mean, spread = [], [], []
        for k in range(len(edges) - 1):
            sel = which == k
            if sel.sum() >= 5:
                centre.append(np.sqrt(edges[k] * edges[k + 1]) / 1e3)
                mean.append(ratio[sel].mean())
                spread.append(ratio[sel].std() / ratio[sel].mean())
        a.plot(centre, mean, "o-", label=name)
        b.plot(centre, spread, "o-", label=name)
    for ax, label in ((a, "response <E_tot / E_inc>"), (b, "resolution sigma / mean")):
        ax.set_xscale("log")
        ax.set_xlabel("E_inc [GeV]")
        ax.set_ylabel(label)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def write_calo_report(path: str | Path, reference: Any, generated: Any, evaluation: Any,
                      layout: Any) -> Path:
    """The HTML report of an :class:`aihep.fastsim.evaluate.Evaluation` of ``generated``
    against ``reference`` (both :class:`aihep.io.calo.ShowerSet`)."""
    ref_f, gen_f = evaluation.reference_features, evaluation.generated_features
    summary = evaluation.to_dict()
    rows = [{"metric": "classifier AUC, low level", "value": (summary["classifier_low"] or {}
                                                              ).get("auc")},
            {"metric": "classifier AUC, high level", "value": (summary["classifier_high"]
                                                               or {}).get("auc")},
            {"metric": "FPD", "value": summary["fpd"]["value"]},
            {"metric": "KPD", "value": summary["kpd"]["value"]}]
    rows += [{"metric": f"separation power: {k}", "value": v}
             for k, v in summary["separation_power"].items()]
    ratio_ref = ref_f.e_tot / reference.incident_mev
    ratio_gen = gen_f.e_tot / generated.incident_mev
    top = max(float(np.quantile(ratio_ref, 0.999)), 1e-6) * 1.5
    figures = [
        ("average showers", _images_figure(reference.showers_mev, generated.showers_mev,
                                           layout)),
        ("longitudinal profile", _profile_figure(ref_f, gen_f)),
        ("response", _hist_with_ratio(ratio_ref, ratio_gen, np.linspace(0, top, 51),
                                      "E_tot / E_inc", "total energy / incident energy")),
        ("lateral size", _hist_with_ratio(np.nanmean(ref_f.width_r, 1),
                                          np.nanmean(gen_f.width_r, 1),
                                          np.linspace(0, 30, 51), "mean width in r [mm]",
                                          "lateral width (mean over layers)")),
        ("response and resolution vs energy", _response_figure(
            ref_f, gen_f, reference.incident_mev, generated.incident_mev)),
    ]
    notes = "".join(f"<p>{n}</p>" for n in summary["notes"])
    sections = [("Metrics", table_html(rows) + notes), ("Figures", figures_html(figures))]
    return write_report(path, "aihep calo: generated vs reference showers", sections)


def tradeoff_figure(rows: list[dict[str, Any]]) -> Any:
    """Classifier AUC (low and high level, 68% intervals) against ms per shower at batch
    10,000, one point per model of a benchmark's rows."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for level, marker in (("low", "o"), ("high", "s")):
        for i, r in enumerate(rows):
            ms = r["ms_per_shower"]["10000"]
            lo, hi = r[f"auc_{level}_ci"]
            ax.errorbar(ms, r[f"auc_{level}"], yerr=[[r[f"auc_{level}"] - lo],
                                                      [hi - r[f"auc_{level}"]]],
                        fmt=marker, color=f"C{i}", ms=8,
                        label=f"{r['model']} ({level}-level)" if level == "low" else None,
                        mfc="white" if level == "high" else f"C{i}")
    ax.set_xscale("log")
    ax.set_xlabel("ms per shower (batch 10,000, one core)", fontsize=14)
    ax.set_ylabel("classifier AUC (filled: low, open: high level)", fontsize=14)
    ax.tick_params(labelsize=12)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize=10)
    ax.set_title(f"fidelity vs speed: {rows[0]['layout']} layout", fontsize=13)
    return fig
