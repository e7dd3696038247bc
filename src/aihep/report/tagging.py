"""Tagger report: ROC curves (background rejection vs signal efficiency) and confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def rejection_figure(probs: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                     background: int) -> Any:
    """1/eps_B vs eps_S of p_s / (p_s + p_b) for every signal class (log scale)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    for s, name in enumerate(classes):
        if s == background or not (labels == s).any() or not (labels == background).any():
            continue
        disc = probs[:, s] / np.maximum(probs[:, s] + probs[:, background], 1e-30)
        sig = np.sort(disc[labels == s])[::-1]
        bkg = disc[labels == background]
        eff_s = np.linspace(0.05, 1.0, 96)
        cuts = sig[np.minimum((eff_s * len(sig)).astype(int), len(sig) - 1)]
        eff_b = np.array([(bkg >= c).mean() for c in cuts])
        ok = eff_b > 0
        ax.plot(eff_s[ok], 1.0 / eff_b[ok], label=f"{name} vs {classes[background]}")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1/eps_B")
    ax.legend(fontsize=11)
    return fig


def confusion_figure(confusion: np.ndarray, classes: tuple[str, ...]) -> Any:
    """Row-normalized confusion matrix with the fractions written in the cells."""
    plt = pyplot()
    size = max(6.0, 0.7 * len(classes))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=11)
    ax.set_yticks(range(len(classes)), classes, fontsize=11)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{confusion[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if confusion[i, j] > 0.5 else "black")
    return fig


def write_tagger_report(path: str | Path, metrics: Any, probs: np.ndarray,
                        labels: np.ndarray, title: str) -> Path:
    """Write the HTML report of a :class:`aihep.tagging.metrics.TaggerMetrics`."""
    classes = metrics.classes
    background = next((i for i, c in enumerate(classes) if c in ("QCD", "light")), 0)
    summary = [{"quantity": "jets", "value": metrics.n_jets},
               {"quantity": "accuracy", "value": f"{metrics.accuracy:.4f}"},
               {"quantity": "macro AUC", "value": f"{metrics.macro_auc:.4f}"}]
    rejections = [{"signal": r.signal, "background": r.background, "eps_S": r.efficiency,
                   "1/eps_B": (">" if r.lower_bound else "") + f"{r.rejection:.4g}"}
                  for r in metrics.rejections]
    sections = [("Summary", table_html(summary)), ("Background rejection", table_html(
        rejections) if rejections else "<p>one class only</p>")]
    if metrics.jet_origin:
        sections.append(("Jet origin", table_html([{"flavour": k, **v}
                                                   for k, v in metrics.jet_origin.items()])))
    sections.append(("Figures", figures_html([
        ("rejection vs efficiency", rejection_figure(probs, labels, classes, background)),
        ("confusion matrix (rows: true class)", confusion_figure(metrics.confusion, classes)),
    ])))
    return write_report(path, title, sections)
