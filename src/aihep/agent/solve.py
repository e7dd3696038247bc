"""Agents-of-Discovery task mode: a task directory in, scores + answers + report out.

A task directory holds two CSVs of the LHCO feature layout (``index, m_JJ, m_J1, delta_m_J,
tau_2_over_tau_1_J1, tau_2_over_tau_1_J2``, GeV; columns read by name): the data, and a
background-only sample whose file name says so ("bkg", "background" or "reference"). The
names are discovered, not assumed. :func:`solve` runs the playbook agent (recorded, validated, with
the permission policy) with the background sample as the reference and writes into the run
directory:

* ``scores.csv``: ``index,score`` sorted by index, scores in [0, 1] (1 = most anomalous);
* ``answers.json``: ``p_value``, ``m_res`` (GeV, or -1 without a discovery),
  ``signal_percentage`` (percent of the data), ``n_signal`` and the daughter (jet) masses,
  each with its uncertainty;
* ``report.md`` / ``report.html``: the approaches considered, which ran, what came out;
* the provenance record and agent manifest of the run.

:func:`evaluate` scores a solved run against truth labels (AUC, max SIC and TPR at max SIC
with the Agents-of-Discovery convention FPR >= 5/N; also inside the found signal region, and
with an mjj window and a tau21 cut alone for comparison).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aihep import DEFAULT_SEED
from aihep.agent.orchestrator import AgentResult, record_outputs, run_agent
from aihep.agent.playbook import PlaybookPlanner, ResonanceTask
from aihep.agent.policy import Policy
from aihep.errors import InputError

REFERENCE_WORDS = ("bkg", "background", "reference")
# What an expert would consider for this task; ``ran`` is filled from the record.
APPROACHES = {
    "idealized": "data vs background-sample classifier in sliding signal regions (the given "
                 "background sample plays the ideal background template)",
    "cwola": "CWoLa hunting: signal region vs sidebands classifier (no reference needed)",
    "cathode": "CATHODE: conditional flow background model from the sidebands, "
               "interpolated into the signal region, then a data-vs-samples classifier",
    "ae": "autoencoder reconstruction error learnt on the background sample, decorrelated "
          "from mjj",
    "flow": "normalizing-flow density -log p(x | mjj) of the background sample, decorrelated "
            "from mjj",
    "bump_hunt": "plain dijet bump hunt of the uncut mjj spectrum (no substructure)",
}


@dataclass(frozen=True)
class TaskFiles:
    """The data and background-only CSVs found in a task directory."""

    data: Path
    reference: Path


def discover_task(task_dir: str | Path) -> TaskFiles:
    """Find the data CSV and the background-only CSV (its name contains bkg, background or
    reference)."""
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise InputError(task_dir, "directory", "a task directory holding two CSV files")
    csvs = sorted(p for p in task_dir.iterdir() if p.suffix.lower() == ".csv"
                  and "label" not in p.name.lower() and "truth" not in p.name.lower())
    refs = [p for p in csvs if any(w in p.name.lower() for w in REFERENCE_WORDS)]
    data = [p for p in csvs if p not in refs]
    if len(refs) != 1 or len(data) != 1:
        found = ", ".join(p.name for p in csvs) or "none"
        raise InputError(task_dir, "CSV files", "one data CSV and one background-only CSV "
                         f"whose name contains 'bkg', 'background' or 'reference' (found: {found})")
    return TaskFiles(data[0], refs[0])


def _unit_scores(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] keeping their order (ranks when outside [0, 1])."""
    if scores.size and scores.min() >= 0 and scores.max() <= 1:
        return scores
    from scipy.stats import rankdata

    return (rankdata(scores) - 1) / max(1, len(scores) - 1)


def _answers(best: dict[str, Any] | None, n_events: int) -> dict[str, Any]:
    discovery = best is not None and bool(best["discovery"] and not best["problems"])
    out: dict[str, Any] = {"p_value": best["p_value"] if best else 1.0,
                           "discovery": discovery, "m_res": -1, "m_res_error": None,
                           "signal_percentage": 0.0, "signal_percentage_error": None,
                           "n_signal": 0.0, "n_signal_error": None, "daughter_masses": {}}
    if best and best.get("no_claim_because"):
        out["no_claim_because"] = best["no_claim_because"]  # significant, stopped by review
    if discovery and best is not None:
        m, n = best["m_res"], best["n_signal"]
        out.update(m_res=m["value"], m_res_error=m["error"], n_signal=n["value"],
                   n_signal_error=n["error"], n_signal_lower=n.get("lower", -n["error"]),
                   n_signal_upper=n.get("upper", n["error"]),
                   signal_percentage=100 * n["value"] / n_events,
                   signal_percentage_error=100 * n["error"] / n_events,
                   daughter_masses=best.get("daughter_masses") or {},
                   methods=best["methods"], hunt_dir=best["out"])
    return out


def _yield(answers: dict[str, Any]) -> dict[str, float]:
    """The answer's yield as an estimate dict (value, error, lower, upper)."""
    error = answers["n_signal_error"]
    return {"value": answers["n_signal"], "error": error,
            "lower": answers.get("n_signal_lower", -error),
            "upper": answers.get("n_signal_upper", error)}


def _report(files: TaskFiles, result: AgentResult, answers: dict[str, Any]
            ) -> tuple[str, list[tuple[str, str]]]:
    """The report as Markdown and as HTML sections, from the same content."""
    import html

    from aihep.report.html import table_html
    from aihep.report.hunt import interval

    ran = {m for h in result.answer.get("all_hunts", []) for m in h["methods"]}
    if answers["discovery"]:
        answer = (f"A resonance at m_res = {answers['m_res']:.0f} +- "
                  f"{answers['m_res_error']:.0f} GeV (global p = {answers['p_value']:.2g}), "
                  f"{answers['n_signal']:.0f} {interval(_yield(answers))} signal events "
                  f"({answers['signal_percentage']:.3f} % of the data).")
        details = [f"daughter jet mass {k}: {v['value']:.0f} +- {v['error']:.0f} GeV"
                   for k, v in answers["daughter_masses"].items()]
    elif answers.get("no_claim_because"):
        answer = (f"No credible discovery: the best excess has global p = "
                  f"{answers['p_value']:.2g}, but the reviewer stopped the claim; m_res = -1.")
        details = list(answers["no_claim_because"])
    else:
        answer = (f"No significant resonance (best global p = {answers['p_value']:.2g}); "
                  "m_res = -1.")
        details = []
    approaches = [{"approach": name, "run": "yes" if name in ran or (
        name == "bump_hunt" and ran) else "no", "what it does": what}
        for name, what in APPROACHES.items()]
    note = ("The bump hunt of the uncut spectrum runs inside every hunt (its fit is the "
            "background model). Methods not run were not planned: every planned hunt runs, "
            "also after a claim, and the global p-value counts each of them.")
    steps = [f"`{s['tool']}` ({s['status']}"
             + (f", global p = {s['p_value']:.2g}" if "p_value" in s else "")
             + (", from the record" if s.get("reused") else "") + f"): {s['rationale']}"
             for s in result.steps]
    head = (f"Provenance head when the agent answered: `{result.head}`; the record then "
            "also hashes scores.csv, answers.json and this report (check everything with "
            "`aihep agent verify`).")
    inputs = f"Data: `{files.data}`; background-only reference: `{files.reference}`."
    md = [f"# aihep agent: {files.data.name}", "", inputs, "", "## Answer", "", answer,
          *[f"- {d}" for d in details], "", "## Approaches considered", "",
          "| approach | run | what it does |", "|---|---|---|",
          *[f"| {a['approach']} | {a['run']} | {a['what it does']} |" for a in approaches],
          "", note, "", "## Steps", "", *[f"{i}. {t}" for i, t in enumerate(steps, 1)],
          "", head]

    def para(text: str) -> str:
        return f"<p>{html.escape(text).replace('`', '')}</p>"

    sections = [("Answer", para(inputs) + para(answer) + "<ul>" + "".join(
                    f"<li>{html.escape(d)}</li>" for d in details) + "</ul>"),
                ("Approaches considered", table_html(approaches) + para(note)),
                ("Steps", "<ol>" + "".join(f"<li>{html.escape(t).replace('`', '')}</li>"
                                           for t in steps) + "</ol>" + para(head))]
    return "\n".join(md) + "\n", sections


def solve(task_dir: str | Path, out: str | Path, seed: int = DEFAULT_SEED,
          hunt: dict[str, Any] | None = None, policy: Policy | None = None,
          planner: Any = None, progress: Any = None) -> dict[str, Any]:
    """Solve an Agents-of-Discovery task; returns answers.json's content.

    Args:
        task_dir: directory with the data CSV and the background-only CSV.
        out: the run directory (the only place written).
        seed: seed of every stochastic step.
        hunt: HuntConfig overrides (e.g. ``keep_fraction``; limits are off unless asked).
        progress: the orchestrator's step callback (see :func:`run_agent`).
    """
    from aihep._atomic import write_atomic, write_json_atomic
    from aihep.discovery.hunt import read_table
    from aihep.report.html import write_report

    files = discover_task(task_dir)
    table = read_table(files.data)
    read_table(files.reference)  # fail early, with the file named, on a bad reference
    out = Path(out)
    task = ResonanceTask(data=files.data, reference=files.reference, seed=seed,
                         first_methods=("idealized", "cwola"),
                         fallback_methods=("cathode", "ae"),
                         # the answers need no limits; they took half of a hunt's time
                         hunt={"limits": False, **(hunt or {})})
    policy = policy or Policy(read_paths=(files.data, files.reference), run_dir=out)
    result = run_agent(task, out, policy, planner=planner or PlaybookPlanner(),
                       progress=progress)
    n_events = len(table["mjj"])
    answers = _answers(result.answer["best"], n_events)
    answers["n_events"] = n_events
    best_dir = Path(result.answer["best"]["out"]) if result.answer["best"] else None
    if best_dir is None or not (best_dir / "scores.csv").is_file():
        raise InputError(out, "hunts", "at least one completed hunt (see the provenance "
                         "record: every hunt failed or was refused)")
    index, scores = np.loadtxt(best_dir / "scores.csv", delimiter=",", skiprows=1,
                               ndmin=2).T
    order = np.argsort(index, kind="stable")

    def write_scores(tmp: Path) -> None:
        with open(tmp, "w") as handle:
            handle.write("index,score\n")
            for i, s in zip(index[order].astype(np.int64), _unit_scores(scores[order]),
                            strict=True):
                handle.write(f"{i},{s:.8g}\n")

    write_atomic(out / "scores.csv", write_scores)
    answers["task"] = {"data": str(files.data), "reference": str(files.reference)}
    for key in ("signal_region_gev", "bump_window_gev"):
        answers[key] = (result.answer["best"] or {}).get(key)
    write_json_atomic(out / "answers.json", answers)
    markdown, sections = _report(files, result, answers)
    write_atomic(out / "report.md", lambda tmp: tmp.write_text(markdown))
    write_report(out / "report.html", f"aihep agent: {files.data.name}", sections)
    head = record_outputs(out, policy, "solve", [out / name for name in (
        "scores.csv", "answers.json", "report.md", "report.html")])
    return {**answers, "provenance_head": head}


def evaluate(run_dir: str | Path, labels: str | Path,
             true_mass_gev: float | None = None) -> dict[str, Any]:
    """Metrics of a solved run against truth labels (``index,label`` CSV, 1 = signal).

    AUC, max SIC and TPR at max SIC (SIC = TPR / sqrt(FPR) where FPR >= 5/N) over all events
    and inside the found signal region (the classifier's SR, or the bump window when the found
    mass lies outside that SR); for comparison the same inside the region for a
    tau21 cut alone (score -(tau21_J1 + tau21_J2), also over all events) and, over all
    events, for an mjj window
    alone (score -|mjj - m|, m the found mass). With ``true_mass_gev``: the error on m_res.
    """
    from aihep.discovery import metrics
    from aihep.discovery.hunt import read_table
    from aihep.io.lhco import read_feature_csv

    run_dir = Path(run_dir)
    try:
        answers = json.loads((run_dir / "answers.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise InputError(run_dir / "answers.json", "file", "the answers of a solved "
                         "task (aihep agent solve)") from None
    table = read_table(answers["task"]["data"])
    _, truth = read_feature_csv(answers["task"]["data"], labels)
    if truth is None:
        raise InputError(labels, "label", "a labels CSV with one truth label per event")
    index, scores = np.loadtxt(run_dir / "scores.csv", delimiter=",", skiprows=1, ndmin=2).T
    if not np.array_equal(index.astype(np.int64), np.sort(table["index"])):
        raise InputError(run_dir / "scores.csv", "index", "one row per data event")
    order = np.argsort(table["index"], kind="stable")
    y, mjj = truth[order], table["mjj"][order]
    tau = (table["tau21_j1"] + table["tau21_j2"])[order]

    def scored(s: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        if mask.sum() == 0 or len(np.unique(y[mask])) < 2:
            return {"n_events": int(mask.sum()), "auc": None, "max_sic": None,
                    "tpr_at_max_sic": None}
        n_b = int((y[mask] == 0).sum())
        floor = metrics.agents_of_discovery_min_background(n_b, int(mask.sum()))
        m = metrics.evaluate(s[mask], y[mask], min_background=floor, n_bootstrap=0)
        return {"n_events": int(mask.sum()), "auc": m.auc, "max_sic": m.max_sic,
                "tpr_at_max_sic": m.tpr_at_max_sic}

    everything = np.ones(len(y), bool)
    out: dict[str, Any] = {"all_events": scored(scores, everything),
                           "tau21_all_events": scored(-tau, everything),
                           "n_signal_true": int(y.sum()),
                           "signal_percentage_true": 100 * float(y.mean())}
    region, source = answers.get("signal_region_gev"), "classifier signal region"
    mass = answers["m_res"] if answers["m_res"] != -1 else None
    if region and mass is not None and not region[0] <= mass < region[1] and answers.get(
            "bump_window_gev"):
        # a cut learnt in one window can reveal a bump elsewhere: judge it where it claims
        region, source = answers["bump_window_gev"], "bump window"
    if region:
        inside = (mjj >= region[0]) & (mjj < region[1])
        out["signal_region_gev"] = region
        out["signal_region_source"] = source
        out["in_signal_region"] = scored(scores, inside)
        out["tau21_cut_in_signal_region"] = scored(-tau, inside)
    if mass is not None:
        out["mjj_window_all_events"] = scored(-np.abs(mjj - mass), everything)
    if true_mass_gev is not None:
        out["true_mass_gev"] = true_mass_gev
        out["m_res_error_gev"] = None if mass is None else mass - true_mass_gev
        out["m_res_relative_error"] = None if mass is None else (
            (mass - true_mass_gev) / true_mass_gev)
    return out
