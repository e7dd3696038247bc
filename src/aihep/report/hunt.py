"""The hunt report: mjj before/after the cut with fit and residuals, significance per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aihep.report.html import figures_html, pyplot, table_html, write_report


def interval(estimate: dict[str, float], digits: int = 0) -> str:
    """``+- error``, or ``+upper -lower`` when the two sides differ by more than 10%
    (e.g. a yield bounded at zero), from an estimate's dict (``error``, ``lower``, ``upper``)."""
    error = estimate["error"]
    lower, upper = -estimate.get("lower", -error), estimate.get("upper", error)
    if abs(upper - lower) <= 0.1 * max(upper, lower):
        return f"+- {error:.{digits}f}"
    return f"+{upper:.{digits}f} -{lower:.{digits}f}"


def spectrum_figure(fit: Any, title: str, window_gev: tuple[float, float] | None = None,
                    z_local: float | None = None) -> Any:
    """Counts of a fitted spectrum (a ``DijetFit``) with the fit, the best window if given;
    residual panel below."""
    plt = pyplot()
    edges, counts = fit.edges_gev, fit.counts
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, (ax, rx) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1]})
    nonzero = counts > 0
    ax.errorbar(centres[nonzero], counts[nonzero], yerr=np.sqrt(counts[nonzero]), fmt="o",
                color="k", ms=4, label="data")
    ax.stairs(fit.expected, edges, color="tab:blue", lw=2,
              label=f"dijet fit ({fit.n_params} par.)")
    if window_gev is not None:
        ax.axvspan(*window_gev, color="tab:orange", alpha=0.25,
                   label=f"best window, Z_local = {z_local:.1f}")
    ax.set_yscale("log")
    ax.set_ylim(0.3, 3 * max(counts.max(), 1))
    ax.set_ylabel("events / bin")
    ax.set_title(title, fontsize=14)
    ax.legend(fontsize=12)
    rx.axhline(0, color="gray")
    # Pulls where the fit expects at least 0.5 events; (n - mu)/sqrt(mu) is meaningless below.
    shown = fit.expected >= 0.5
    pulls = (counts - fit.expected)[shown] / np.sqrt(fit.expected[shown])
    rx.plot(centres[shown], np.clip(pulls, -6, 6), "o", color="k", ms=4)
    rx.set_ylim(-6.5, 6.5)
    rx.set_ylabel("pull")
    rx.set_xlabel(r"$m_{JJ}$ [GeV]")
    return fig


def trials_figure(trials: list[Any]) -> Any:
    """Local significance of each (signal region, method) trial."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for method in sorted({t.method for t in trials}):
        sel = [t for t in trials if t.method == method]
        ax.plot([0.5 * sum(t.window_gev) for t in sel], [t.bump.z_local for t in sel], "o-",
                label=method)
    ax.set_xlabel("signal-region centre [GeV]")
    ax.set_ylabel("local significance of the best bump")
    ax.legend(fontsize=12)
    return fig


def sic_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """ROC (background rejection vs signal efficiency) and SIC curves, one line per method.

    ``curves`` maps a method name to (scores, truth labels) of the same events.
    """
    from aihep.discovery import metrics

    plt = pyplot()
    fig, (ax, sx) = plt.subplots(1, 2, figsize=(13, 5))
    fig.subplots_adjust(wspace=0.4)
    for method, (scores, labels) in curves.items():
        fpr, tpr, _ = metrics.roc_curve(scores, labels)
        ok = fpr > 0
        auc = metrics.auc(scores, labels)
        ax.plot(tpr[ok], 1.0 / fpr[ok], label=f"{method} (AUC {auc:.3f})")
        sic_tpr, sic = metrics.sic_curve(scores, labels, min_background=25)
        sx.plot(sic_tpr, sic, label=f"{method} (max {sic.max():.1f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1/FPR")
    ax.legend(fontsize=11)
    sx.set_xlabel("signal efficiency")
    sx.set_ylabel("SIC = TPR / \u221aFPR")  # plain text: mathtext sqrt warns with mplhep fonts
    sx.set_title(">= 25 background events pass", fontsize=14)
    sx.legend(fontsize=11)
    return fig


def efficiency_figure(mjj: np.ndarray, selected: np.ndarray, edges: np.ndarray,
                      title: str) -> Any:
    """Fraction of events passing the cut per mjj bin: a sculpting check (flat for background)."""
    plt = pyplot()
    total = np.histogram(mjj, edges)[0]
    passed = np.histogram(mjj[selected], edges)[0]
    ok = total > 0
    eff = np.divide(passed, total, out=np.zeros(len(total)), where=ok)
    err = np.sqrt(np.maximum(passed, 1)) / np.maximum(total, 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.errorbar(centres[ok], eff[ok], yerr=err[ok], fmt="o", color="black")
    ax.set_xlabel(r"$m_{jj}$ [GeV]")
    ax.set_ylabel("fraction selected")
    ax.set_title(title, fontsize=14)
    return fig


def write_hunt_report(path: str | Path, result: Any, labels: np.ndarray | None = None
                      ) -> Path:
    """Write the report of a :class:`aihep.discovery.hunt.HuntResult`."""
    best = result.best
    summary = result.to_dict()
    rows = [{"quantity": "global p-value (windows x methods)", "value": summary["p_value"]},
            {"quantity": "global significance", "value": summary["significance"]},
            {"quantity": "local significance", "value": summary["significance_local"]},
            {"quantity": "best method / SR [GeV]",
             "value": f"{best.method} / {best.window_gev[0]:g}-{best.window_gev[1]:g}"}]
    for key, label in (("m_res", "resonance mass [GeV]"), ("n_signal", "signal events"),
                       ("n_signal_selected", "signal events passing the cut"),
                       ("n_signal_rejected", "signal events the cut rejected (bounded at 0)"),
                       ("signal_percentage", "signal percentage")):
        if key in summary:
            rows.append({"quantity": label, "value": f"{summary[key]['value']:.4g} "
                         f"{interval(summary[key], 2 if key == 'signal_percentage' else 0)}"})
    if "spurious_signal" in summary:
        spur = summary["spurious_signal"]
        rows.append({"quantity": "spurious signal in the background-only sample (events)",
                     "value": f"{spur['value']:.3g} +- {spur['error']:.2g} (adds "
                     f"{spur['error_added']:.2g} to the yield's error)"})
    for key, est in result.daughters.items():
        rows.append({"quantity": f"{key} peak [GeV]",
                     "value": f"{est.value:.4g} +- {est.error:.2g}"})
    figs = [("mjj after the cut", spectrum_figure(best.bump.fit, f"{best.method}: top scores",
                                                  best.bump.window_gev, best.bump.z_local))]
    if result.uncut_fit is not None:
        figs.insert(0, ("mjj before the cut", spectrum_figure(
            result.uncut_fit, f"all events (fit p = {result.uncut_fit.chi2_pvalue:.2g})")))
    figs += [
        ("Significance per trial", trials_figure(result.trials)),
    ]
    lo, hi = best.window_gev
    in_sr = (result.mjj >= lo) & (result.mjj < hi)
    figs.append(("Selection efficiency vs mjj (best trial; smooth and flat away from a "
                 "signal when the score does not sculpt)",
                 efficiency_figure(result.mjj, result.selected, best.bump.edges_gev,
                                   f"{best.method}, SR {lo:g}-{hi:g} GeV")))
    if labels is not None and len(np.unique(labels[in_sr])) == 2:
        curves = {}
        for method, sorted_scores in (result.method_scores or {best.method: result.scores}
                                      ).items():
            scores = np.empty_like(sorted_scores)
            scores[result.order] = sorted_scores  # back to input order
            curves[method] = (scores[in_sr], labels[in_sr])
        figs.append((f"ROC and SIC per method on the events of SR {lo:g}-{hi:g} GeV (truth "
                     "labels; out-of-fold scores of the same data, not an independent test "
                     "set)", sic_figure(curves)))
    figures = figures_html(figs)
    trials = table_html([{"method": t.method, "SR [GeV]": f"{t.window_gev[0]:g}-"
                          f"{t.window_gev[1]:g}", "selected": t.n_selected,
                          "bump [GeV]": f"{t.bump.window_gev[0]:g}-{t.bump.window_gev[1]:g}",
                          "Z local": t.bump.z_local, "p (toys)": t.bump.p_global}
                         for t in result.trials])
    if result.discovery:
        verdict = ("<p><b>Discovery</b> (p &lt; 1e-3 after the look-elsewhere effect, every "
                   "reviewer check passed).</p>")
    elif result.significant:
        verdict = ("<p><b>No credible discovery</b>: p &lt; 1e-3, but the reviewer stopped the "
                   "claim (see the checks below).</p>")
    else:
        verdict = "<p>No significant excess (p &ge; 1e-3).</p>"
    if result.uncut_fit_pvalue < 1e-3:
        verdict += ("<p><b>Caution:</b> the dijet function fits the uncut spectrum poorly "
                    f"(chi2 p = {result.uncut_fit_pvalue:.1e}): the spectrum may not be "
                    "dijet-like (generator phase-space cuts, sculpting) or may hold a strong "
                    "signal. Check the spectra below before trusting the significance.</p>")
    sections = [("Result", verdict + table_html(rows))]
    if result.review is not None:
        sections.append(("Reviewer checks (defined before scoring; a claim needs all)",
                         table_html([{"check": c.name, "passed": "yes" if c.passed else
                                      "NO", "why": c.detail}
                                     for c in result.review.checks])))
    if result.limits:
        sections.append(("Upper limits on the signal yield (95% CLs, pyhf)",
                         "<p>'all events': total yield in the uncut spectrum; a method: yield "
                         "after its cut. Events.</p>" + table_html([
                             {"spectrum": name, "mass [GeV]": lim.mass_gev,
                              "width [GeV]": lim.width_gev, "observed": lim.observed,
                              "expected": lim.expected,
                              "expected -1/+1 sigma": f"{lim.expected_band[1]:.1f} / "
                              f"{lim.expected_band[2]:.1f}"}
                             for name, limits in result.limits.items() for lim in limits])))
    sections += [("Spectra", figures), ("Trials", trials)]
    return write_report(path, "aihep hunt", sections)
