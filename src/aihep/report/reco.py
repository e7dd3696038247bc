"""Track-reconstruction report: angular resolution vs muon energy for one or more methods."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def resolution_figure(results: Sequence[Any]) -> Any:
    """Median (solid) and 68% quantile (dashed) of the opening angle [deg] vs muon energy [TeV]
    for :class:`aihep.reco.metrics.Resolution` results, log-log."""
    plt = pyplot()
    from matplotlib.ticker import NullFormatter

    fig, ax = plt.subplots(figsize=(8, 6))
    for index, result in enumerate(results):
        bins = [b for b in result.bins if b["n"] > 0]
        if not bins:
            continue
        centre = np.sqrt([b["energy_min_tev"] * b["energy_max_tev"] for b in bins])
        colour = f"C{index % 10}"
        ax.plot(centre, [b["median_deg"] for b in bins], "o-", color=colour,
                label=f"{result.method} median")
        ax.plot(centre, [b["q68_deg"] for b in bins], "s--", color=colour, alpha=0.6,
                label=f"{result.method} 68%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    edges = sorted({e for r in results for b in r.bins
                    for e in (b["energy_min_tev"], b["energy_max_tev"])})
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(edges, [f"{e:g}" for e in edges])
    ax.set_xlabel("muon energy [TeV]")
    ax.set_ylabel("angular error [deg]")
    ax.legend(fontsize=10, ncol=2)
    return fig


def write_reco_report(path: str | Path, results: Sequence[Any], title: str) -> Path:
    """Write the HTML report: summary per method, resolution per energy bin, the figure."""
    summary = [{"method": r.method, "events": r.n_events, "failed": r.failed_fraction,
                "median [deg]": r.median_deg, "ms/event": 1e3 * r.seconds_per_event}
               for r in results]
    per_bin = [{"method": r.method, "E [TeV]": f"{b['energy_min_tev']:g}-{b['energy_max_tev']:g}",
                "events": b["n"], "median [deg]": b["median_deg"], "68% [deg]": b["q68_deg"]}
               for r in results for b in r.bins]
    sections = [("Summary", table_html(summary)), ("Resolution per energy bin",
                                                   table_html(per_bin)),
                ("Figure", figures_html([("angular error vs muon energy",
                                          resolution_figure(results))]))]
    return write_report(path, title, sections)
