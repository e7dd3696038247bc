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
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    fig, ax = plt.subplots(figsize=(11, 6))
    palette, markers = plt.get_cmap("tab10"), "osD^vP*Xph"
    handles = []
    for index, result in enumerate(results):
        bins = [b for b in result.bins if b["n"] > 0]
        if not bins:
            continue
        centre = np.sqrt([b["energy_min_tev"] * b["energy_max_tev"] for b in bins])
        style = {"color": palette(index % 10), "marker": markers[index % len(markers)]}
        ax.plot(centre, [b["median_deg"] for b in bins], "-", **style)
        ax.plot(centre, [b["q68_deg"] for b in bins], "--", alpha=0.5, **style)
        handles.append(Line2D([], [], linestyle="-", label=result.method, **style))
    handles += [Line2D([], [], color="grey", linestyle="-", label="median"),
                Line2D([], [], color="grey", linestyle="--", alpha=0.5, label="68% quantile")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    edges = sorted({e for r in results for b in r.bins
                    for e in (b["energy_min_tev"], b["energy_max_tev"])})
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(edges, [f"{e:g}" for e in edges])
    ax.set_xlabel("muon energy [TeV]")
    ax.set_ylabel("angular error [deg]")
    ax.legend(handles=handles, fontsize=11, loc="upper left", bbox_to_anchor=(1.02, 1.0))
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
