"""Design-optimization plots and pages: best-so-far against simulator calls, the best
design drawn, the comparison table. Draws the results it is given; computes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def convergence_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """Median (band: min-max over seeds) of the best noisy objective vs calls, per
    optimizer; the baseline's re-evaluated objective as a dashed line. Every optimizer has
    its own colour and line style; the y range is clipped to 1.5x the baseline so the first
    random calls do not flatten the curves."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 6))
    by_name: dict[str, list[list[float]]] = {}
    for r in rows:
        by_name.setdefault(r["optimizer"], []).append(r.get("best_so_far") or [])
    colours = plt.get_cmap("tab20").colors
    styles = ("-", "--", "-.", ":")
    lowest = np.inf
    for i, (name, curves) in enumerate(sorted(by_name.items())):
        n = min(len(c) for c in curves)
        if n == 0:
            continue
        a = np.array([c[:n] for c in curves], dtype=float)
        calls = np.arange(1, n + 1)
        colour = colours[(2 * i) % 20 + (2 * i) // 20 % 2]
        ax.plot(calls, np.nanmedian(a, 0), label=f"{name} ({len(curves)} seeds)", lw=2,
                color=colour, ls=styles[i % len(styles)])
        if len(curves) > 1:
            ax.fill_between(calls, np.nanmin(a, 0), np.nanmax(a, 0), alpha=0.07,
                            color=colour)
        lowest = min(lowest, float(np.nanmin(a)))
    base = float(np.median([r["baseline_objective"] for r in rows]))
    ax.axhline(base, ls="--", color="grey", label="baseline (re-evaluated)")
    if np.isfinite(lowest):
        ax.set_ylim(0.9 * lowest, 1.5 * base)
    ax.set_xlabel("simulator calls", fontsize=14)
    ax.set_ylabel("best objective so far\n(noisy; lower is better)", fontsize=14)
    ax.set_xscale("log")
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def design_figure(design: dict[str, Any], problem: Any, title: str) -> Any:
    """The design drawn: stations or layers at their positions (bar height: granularity or
    thickness) when the problem has ``z<i>_...`` positions, else every parameter within its
    range."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    def index(key: str) -> str:
        head = key.split("_")[0]
        return head.lstrip("abcdefghijklmnopqrstuvwxyz")

    zs = sorted(k for k in design if k.startswith("z") and index(k).isdigit())
    if zs:
        for key in zs:
            partner = next((k for k in design if not k.startswith("z")
                            and index(k) == index(key)), None)
            height = design.get(partner, 1) if partner else 1
            height = 0.0 if height == "off" else float(height)
            if height > 0:
                span = max(float(design[k]) for k in zs) - min(float(design[k]) for k in zs)
                ax.bar(float(design[key]), height, width=0.012 * (span or 1.0), color="C0")
        settings = getattr(problem, "objective_spec", None)
        field = (settings.settings if settings else {})
        if problem is not None and problem.objective_spec.simulator == "spectrometer":
            start, end = field.get("field_start_m", 3.0), field.get("field_end_m", 6.0)
            ax.axvspan(start, end, color="orange", alpha=0.2, label="magnet")
            ax.legend(fontsize=11)
        unit = zs[0].split("_", 1)[1] if "_" in zs[0] else ""
        ax.set_xlabel(f"position z [{unit}]")
        ax.set_ylabel("granularity / thickness")
    else:
        names = list(design)
        values = [0.0 if design[n] == "off" else float(design[n]) for n in names]
        ax.bar(range(len(names)), values)
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=9)
    ax.set_title(title, fontsize=13)
    return fig


def write_design_report(out: Path, rows: Sequence[dict[str, Any]], problem: Any,
                        summaries: Sequence[dict[str, Any]] = ()) -> list[Path]:
    """``report.html`` in ``out``: the table, convergence and the best design."""
    best = min(rows, key=lambda r: r["best_objective"])
    table = [{**{k: r[k] for k in ("optimizer", "seed", "calls", "baseline_objective",
                                   "best_objective", "best_error", "invalid_fraction")},
              "filled_repeats": r.get("filled_repeats", 0), "seconds": r["seconds"]}
             for r in rows]
    sections = []
    if summaries:
        sections.append(("Optimizers over seeds", table_html(list(summaries))))
    sections += [
        ("Runs", table_html(table) + "<p class='note'>best_objective: the best design "
         "re-evaluated on fresh events (the best noisy value is biased low).</p>"),
        ("Convergence and best design", figures_html([
            ("best objective so far vs simulator calls", convergence_figure(rows)),
            (f"best design ({best['optimizer']}, seed {best['seed']}): "
             f"{best['best_objective']:.4g} vs baseline {best['baseline_objective']:.4g}",
             design_figure(best["best_design"], problem, "best design"))]))]
    title = f"Design optimization: {rows[0]['problem']}"
    return [write_report(Path(out) / "report.html", title, sections)]
