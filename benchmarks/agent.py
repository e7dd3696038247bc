"""Benchmark: `aihep agent solve` on LHCO-style tasks whose answers the agent is not told.

Tasks are built from disjoint subsets of one full-range QCD pool (qcd-dijet, pT-hat > 1 TeV,
LHCO trigger; shared with end_to_end.py / no_signal.py and regenerated when missing): one
subset is the background-only CSV given to every task, each task's data is another subset plus
(or not) Pythia W' -> X Y events at a mass and signal fraction kept in a truth file the agent
never sees. Files are written in the Agents-of-Discovery layout (pandas-style CSV, unnamed
index column, rows shuffled).

Per planner (playbook; the embedded llama.cpp model when aihep[llm-local] and the fetched
model are present; an OpenAI-compatible server when AIHEP_LLM_BASE_URL/_MODEL are set):
success (signal: m_res within 5% of the W' mass and p < 1e-3; no signal: no discovery), AUC,
max SIC (FPR >= 5/N) over all events and inside the found signal region, wall time.

Usage: python benchmarks/agent.py [--planners playbook,local] [--tasks a,b,c,d] [--keep 0.02]
Writes benchmarks/results/agent.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from anomaly import finite_rows, sample

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "agent"
COLUMNS = ("mjj", "mj1", "delta_mj", "tau21_j1", "tau21_j2")
HEADER = ",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
# name: (W' mass, X mass, Y mass, injected signal events) or None for background only
TASKS = {
    "a": (3600.0, 400.0, 150.0, 300),
    "b": (3500.0, 500.0, 100.0, 300),
    "c": None,
    "d": (3600.0, 400.0, 150.0, 150),
}


def _write_csv(path: Path, table: dict[str, np.ndarray]) -> None:
    with open(path, "w") as handle:
        handle.write(HEADER)
        for i in range(len(table["mjj"])):
            handle.write(f"{i}," + ",".join(f"{table[c][i]:.6g}" for c in COLUMNS) + "\n")


def build_tasks(names: list[str], n_events: int, seed: int, workers: int,
                rebuild: bool = False) -> dict[str, dict]:
    """Write each task's directory and truth (kept when present); the truth per task."""
    truth_dir = CACHE / "truth"
    if not rebuild and all((truth_dir / f"{n}.json").is_file() for n in names):
        return {n: json.loads((truth_dir / f"{n}.json").read_text()) for n in names}
    bkg, _ = finite_rows(sample("qcd-dijet", 100_000, seed + 100, [], workers))
    order = np.random.default_rng(seed + 30).permutation(len(bkg["mjj"]))
    if n_events * (len(TASKS) + 1) > len(order):
        msg = f"the pool has {len(order)} events: at most {len(order) // (len(TASKS) + 1)} per task"
        raise SystemExit(msg)
    subsets = [order[k * n_events:(k + 1) * n_events] for k in range(len(TASKS) + 1)]
    reference = {k: bkg[k][subsets[0]] for k in COLUMNS}
    truths = {}
    for k, name in enumerate(TASKS):
        if name not in names:
            continue
        spec = TASKS[name]
        data = {c: bkg[c][subsets[k + 1]] for c in COLUMNS}
        labels = np.zeros(len(data["mjj"]), int)
        truth: dict = {"signal": None, "n_signal": 0}
        if spec is not None:
            m_w, m_x, m_y, n_sig = spec
            params = ({} if (m_w, m_x, m_y) == (3500.0, 500.0, 100.0) else
                      {"m_wprime_gev": m_w, "m_x_gev": m_x, "m_y_gev": m_y})
            sig_seed = seed + 1 if not params else seed + 101
            n_pool = 20_000 if not params else 3000
            sig, _ = finite_rows(sample("wprime-xy", n_pool, sig_seed, [], workers, params))
            pick = np.random.default_rng(seed + 40 + k).permutation(len(sig["mjj"]))[:n_sig]
            data = {c: np.concatenate([data[c], sig[c][pick]]) for c in COLUMNS}
            labels = np.concatenate([labels, np.ones(n_sig, int)])
            truth = {"signal": {"m_wprime_gev": m_w, "m_x_gev": m_x, "m_y_gev": m_y},
                     "n_signal": n_sig}
        shuffle = np.random.default_rng(seed + 50 + k).permutation(len(labels))
        data = {c: v[shuffle] for c, v in data.items()}
        labels = labels[shuffle]
        task_dir = CACHE / "tasks" / name
        task_dir.mkdir(parents=True, exist_ok=True)
        _write_csv(task_dir / "events.csv", data)
        _write_csv(task_dir / "background_only.csv", reference)
        truth_dir = CACHE / "truth"
        truth_dir.mkdir(parents=True, exist_ok=True)
        (truth_dir / f"{name}_labels.csv").write_text(
            "index,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
        truth.update(n_events=len(labels), signal_percentage=100 * labels.mean())
        (truth_dir / f"{name}.json").write_text(json.dumps(truth, indent=2) + "\n")
        truths[name] = truth
    return truths


def wall_seconds(run: Path) -> float:
    """Wall time the agent spent on a run, from its record, summed over sessions.

    A session starts with the memory read the orchestrator makes first and ends at its last
    entry, so a run resumed after a crash counts the work of every session once.
    """
    from aihep.agent.provenance import read_entries

    total, start, last = 0.0, None, None
    for entry in read_entries(run / "provenance.jsonl"):
        if entry["tool"] == "memory.read":
            if start is not None:
                total += last - start
            start = entry["time"]
        last = entry["time"]
    return total + (last - start if start is not None else 0.0)


def available_planners(requested: list[str]) -> list[str]:
    """The requested planners that can run here (the others are reported as skipped)."""
    out = []
    for kind in requested:
        if kind == "local":
            try:
                import llama_cpp  # noqa: F401

                from aihep.agent.llm import default_model_dir
                from aihep.agent.model_fetch import MODEL_NAME
            except ImportError:
                print("skip local: llama-cpp-python not installed", flush=True)
                continue
            if not (default_model_dir() / MODEL_NAME).is_file():
                print("skip local: run `aihep agent fetch-model`", flush=True)
                continue
        if kind == "llm" and not os.environ.get("AIHEP_LLM_BASE_URL"):
            print("skip llm: AIHEP_LLM_BASE_URL not set", flush=True)
            continue
        out.append(kind)
    return out


def _write(rows: list[dict], args: argparse.Namespace) -> dict:
    summary = {}
    for kind in {r["planner"] for r in rows}:
        mine = [r for r in rows if r["planner"] == kind]
        summary[kind] = {"success_rate": float(np.mean([r["success"] for r in mine])),
                         "tasks": len(mine), "seconds": float(sum(r["seconds"] for r in mine))}
    out = {"benchmark": "agent", "events_per_task": args.events, "keep_fraction": args.keep,
           "summary": summary, "runs": rows}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / args.results).write_text(json.dumps(out, indent=2, default=float)
                                                 + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planners", default="playbook,local,llm")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--events", type=int, default=19_000, help="background per task "
                        "(the reference has as many; 5 disjoint subsets of the 100k pool)")
    parser.add_argument("--keep", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", default="agent.json", help="file under benchmarks/results/")
    parser.add_argument("--rebuild", action="store_true", help="rewrite the task files")
    parser.add_argument("--fresh", action="store_true", help="discard earlier runs")
    args = parser.parse_args()
    from aihep.agent.llm import make_planner
    from aihep.agent.solve import evaluate, solve

    names = args.tasks.split(",")
    truths = build_tasks(names, args.events, args.seed, args.workers, args.rebuild)
    rows: list[dict] = []
    summary: dict = {}
    for kind in available_planners(args.planners.split(",")):
        for name in names:
            truth = truths[name]
            run = CACHE / "runs" / kind / name
            if run.exists() and args.fresh:
                import shutil

                shutil.rmtree(run)  # else an interrupted run resumes from its record
            answers = solve(CACHE / "tasks" / name, run, seed=args.seed,
                            hunt={"keep_fraction": args.keep}, planner=make_planner(kind))
            seconds = wall_seconds(run)
            true_mass = truth["signal"]["m_wprime_gev"] if truth["signal"] else None
            scores = evaluate(run, CACHE / "truth" / f"{name}_labels.csv", true_mass)
            if true_mass is None:
                success = not answers["discovery"]
            else:
                success = bool(answers["discovery"] and abs(
                    scores["m_res_relative_error"]) < 0.05)
            row = {"planner": kind, "task": name, "truth": truth, "success": success,
                   "seconds": seconds, "answers": {k: answers.get(k) for k in (
                       "p_value", "discovery", "m_res", "m_res_error", "n_signal",
                       "n_signal_error", "signal_percentage", "signal_region_gev",
                       "methods")}, "metrics": scores}
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("planner", "task", "success", "seconds")}
                             | {"p": answers["p_value"], "m_res": answers["m_res"]}),
                  flush=True)
            summary = _write(rows, args)  # after every task: a long run keeps what it did
    print("\n| planner | task | truth (W', S) | found | global p | m_res [GeV] | AUC | "
          "max SIC | max SIC in SR | tau21-cut SIC in SR | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t, a, m = r["truth"], r["answers"], r["metrics"]
        sig = f"{t['signal']['m_wprime_gev']:.0f}, {t['n_signal']}" if t["signal"] else "none"
        mres = f"{a['m_res']:.0f} +- {a['m_res_error']:.0f}" if a["discovery"] else "-1"
        sr = m.get("in_signal_region", {})
        tau = m.get("tau21_cut_in_signal_region", {})

        def f(x, fmt=".2f"):
            return "-" if x is None else format(x, fmt)

        print(f"| {r['planner']} | {r['task']} | {sig} | {'yes' if r['success'] else 'NO'} | "
              f"{a['p_value']:.2g} | {mres} | {f(m['all_events']['auc'], '.3f')} | "
              f"{f(m['all_events']['max_sic'])} | {f(sr.get('max_sic'))} | "
              f"{f(tau.get('max_sic'))} | {r['seconds'] / 60:.1f} |")
    for kind, s in summary.items():
        print(f"{kind}: success {s['success_rate']:.0%} of {s['tasks']} tasks, "
              f"{s['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
