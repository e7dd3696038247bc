"""PID report: confusion matrices and efficiency / purity against momentum per species, for
tracks with TOF, without TOF and all. Draws the evaluation it is given; computes nothing
but row normalizations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.pid.detectors import SPECIES
from aihep.report.html import figures_html, pyplot, table_html, write_report

CLASSES = (("with_tof", "with TOF"), ("without_tof", "without TOF"), ("all", "all tracks"))


def confusion_figure(counts: list[list[int]], title: str) -> Any:
    """Row-normalized confusion matrix (true species in rows), counts in the cells."""
    plt = pyplot()
    c = np.asarray(counts, float)
    frac = c / np.maximum(c.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(SPECIES)):
        for j in range(len(SPECIES)):
            ax.text(j, i, f"{frac[i, j]:.2f}\n({int(c[i, j])})", ha="center", va="center",
                    fontsize=9, color="white" if frac[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(SPECIES)), SPECIES)
    ax.set_yticks(range(len(SPECIES)), SPECIES)
    ax.set_xlabel("identified as")
    ax.set_ylabel("true species")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true species")
    return fig


def curves_figure(performance: dict[str, Any], quantity: str) -> Any:
    """Efficiency or purity against momentum, one panel per species, one line per TOF
    class."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SPECIES), figsize=(14, 3.6), sharey=True)
    for ax, name in zip(axes, SPECIES, strict=True):
        for key, label in CLASSES:
            if key not in performance:
                continue
            curves = performance[key]["efficiency_purity"]
            edges = np.asarray(curves["p_edges_gev"])
            centres = np.sqrt(edges[:-1] * edges[1:])
            values = np.asarray(curves[name][quantity], float)
            ax.plot(centres, values, marker="o", ms=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("p [GeV/c]")
        ax.set_title(name)
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel(quantity)
    axes[0].legend(fontsize=9)
    return fig


def write_pid_report(path: str | Path, evaluation: dict[str, Any], title: str = "PID"
                     ) -> Path:
    """An HTML page of a PID evaluation (``PIDEvaluation.to_dict()``)."""
    performance = evaluation["performance"]
    rows = [{"tracks": label, "count": performance[key]["tracks"],
             "macro F1": performance[key]["f1_macro"],
             **{f"F1 {s}": performance[key]["f1_per_species"][s] for s in SPECIES}}
            for key, label in CLASSES if key in performance]
    confusions = [(f"confusion, {label}", confusion_figure(performance[key]["confusion"],
                                                           label))
                  for key, label in CLASSES if key in performance]
    by_detectors = [{"detectors present": name, "count": v["tracks"],
                     "macro F1": v["f1_macro"],
                     **{f"F1 {s}": v["f1_per_species"].get(s, "-") for s in SPECIES}}
                    for name, v in performance.get("by_detectors", {}).items()]
    sections = [
        ("F1 by TOF availability", table_html(rows)),
        *([("F1 by the detectors present", table_html(by_detectors))] if by_detectors
          else []),
        ("Confusion matrices", figures_html(confusions)),
        ("Efficiency against momentum", figures_html(
            [("efficiency per species", curves_figure(performance, "efficiency"))])),
        ("Purity against momentum", figures_html(
            [("purity per species", curves_figure(performance, "purity"))]))]
    return write_report(path, title, sections)
