"""Jet-parton assignment report: efficiencies by jet multiplicity and the reconstructed top
and W masses of the assigned jets (split into right and wrong tops when the truth is known).
Draws the results it is given; computes nothing but histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report

MULTIPLICITIES = ("6", "7", ">=8", "all")
SUBSETS = (("matched", "fully matched events"), ("all", "all events"))


def efficiency_figure(rows: list[dict[str, Any]], title: str) -> Any:
    """Event and top efficiency against the number of jets, for fully matched and all
    events, with binomial error bars."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    x = np.arange(len(MULTIPLICITIES))
    for ax, (key, label) in zip(axes, (("event", "event efficiency"),
                                       ("top", "top efficiency")), strict=True):
        for offset, (subset, name) in zip((-0.08, 0.08), SUBSETS, strict=True):
            by = {r["njets"]: r for r in rows if r["subset"] == subset}
            values = [by.get(m, {}).get(f"{key}_efficiency", np.nan) for m in MULTIPLICITIES]
            errors = [by.get(m, {}).get(f"{key}_efficiency_error", np.nan)
                      for m in MULTIPLICITIES]
            ax.errorbar(x + offset, values, yerr=errors, marker="o", ls="none", capsize=3,
                        label=name)
        ax.set_xticks(x, [f"{m} jets" if m != "all" else "all" for m in MULTIPLICITIES])
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=12)
    axes[0].legend(fontsize=10)
    fig.tight_layout()
    return fig


def mass_figure(tops: dict[str, np.ndarray]) -> Any:
    """Histograms of the reconstructed top (b q q') and W (q q') masses [GeV] of every
    assigned top; right and wrong tops apart when ``tops`` holds ``correct``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    correct = tops.get("correct")
    for ax, key, upper, label in ((axes[0], "top_mass", 400.0, "m(b q q') [GeV]"),
                                  (axes[1], "w_mass", 250.0, "m(q q') [GeV]")):
        values = tops[key].ravel()
        finite = np.isfinite(values)
        bins = np.linspace(0, upper, 51)
        if correct is None:
            ax.hist(values[finite], bins=bins, histtype="step", lw=1.5,
                    label=f"assigned tops ({int(finite.sum())})")
        else:
            right = correct.ravel() & finite
            wrong = ~correct.ravel() & finite
            ax.hist([values[right], values[wrong]], bins=bins, stacked=True,
                    label=[f"right ({int(right.sum())})",
                           f"wrong or partons unmatched ({int(wrong.sum())})"])
        ax.set_xlabel(label)
        ax.set_ylabel("tops per bin")
        ax.legend(fontsize=10)
    fig.tight_layout()
    return fig


def write_assign_report(path: str | Path, result: dict[str, Any], tops: dict[str, np.ndarray],
                        title: str = "Jet-parton assignment") -> Path:
    """An HTML page of an evaluation (``AssignEvaluation.to_dict()``: efficiencies) or a
    prediction (``AssignPrediction.to_dict()``: masses only), with ``tops`` from
    :func:`aihep.assign.metrics.reconstructed_tops`."""
    sections = []
    method = result.get("method", "")
    if result.get("rows"):
        table = [{"jets": r["njets"], "subset": r["subset"], "events": r["events"],
                  "event eff.": f"{r['event_efficiency']:.3f} +- "
                                f"{r['event_efficiency_error']:.3f}",
                  "top eff.": f"{r['top_efficiency']:.3f}"} for r in result["rows"]]
        sections += [("Efficiencies", table_html(table)),
                     ("Efficiency against the number of jets", figures_html(
                         [(f"{method}: all tops right (event) and per top",
                           efficiency_figure(result["rows"], method))]))]
    summary = {k: v for k, v in result.items() if isinstance(v, int | float | str)}
    sections += [("Summary", table_html([summary])),
                 ("Reconstructed masses", figures_html(
                     [("top and W candidates of the assigned jets", mass_figure(tops))]))]
    return write_report(path, f"{title} ({method})", sections)
