"""Benchmark: `aihep agent solve` on blind-style LHCO tasks off the usual mass.

Every task is a directory of two CSVs in the Agents-of-Discovery layout (pandas-style, unnamed
index column, rows shuffled): the data and a background-only sample. The truth (resonance
masses, injected events, labels) stays in a separate directory the agent never sees.

* Data: disjoint subsets of one QCD pool (qcd-dijet, pT-hat > 1 TeV, LHCO trigger: a jet with
  pT > 1.2 TeV, the default simple detector), plus (or not) Pythia W' -> X Y events at
  3.0, 4.0 and 5.0 TeV and signal fractions from 0.5% down to 0.1%.
* The background-only CSV comes from **another** QCD pool: another seed and a detector with
  10-20% worse calorimeter and tracking resolution. A reference is never a perfect
  background model.
* Background-only tasks, one of them sculpted: its data pass a higher trigger (leading jet
  pT > 1.45 TeV), so its mjj spectrum turns on near 3 TeV while the reference does not. The
  right answer there is "no credible discovery".
* Each signal task carries its expected sensitivity: the local Asimov significance of the
  best cut on a supervised classifier (trained on independent signal and same-detector
  background events) inside a +-2 sigma mjj window at the true mass. The claim threshold is
  declared in global Z: aihep claims at a global p < 1e-3 (Z > 3.09). A task is "detectable"
  when Z_expected >= 5 (enough to pass the threshold after the look-elsewhere effect of a
  sliding scan), "undetectable" below 3, "borderline" in between.

Scoring per run: success when (detectable) a discovery is claimed with m_res within 5% of
the W' mass; (borderline, undetectable) no discovery or one within 5%; (no signal) no
discovery. A discovery at a wrong mass always fails. Also the yield pull
(n_signal - injected) / n_signal_error, AUC and max SIC (FPR >= 5/N) over all events, and the
AUC of the score 1 - (tau21_J1 + tau21_J2) / 2 on the same events.

Generation (~130k QCD events, ~45 min on 2 cores) and the task files are cached under
.cache/benchmarks/agent and regenerated when missing; runs resume from their records.

Every hunt uses the tool's own anomaly cut (HuntConfig.keep_fraction: 1% of each signal
region, what `aihep agent solve` uses); ``--keep`` measures another (runs up to 2026-12-07
passed 2%).

Usage: python benchmarks/agent.py [--planners playbook,local,llm] [--tasks m3000,...] [--keep F]
       python benchmarks/agent.py --build-only   # generate and write the task files
Writes benchmarks/results/agent.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from common import asymmetric_pull, git_commit, utc_now, write_result

from aihep.errors import InputError

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "agent"
COLUMNS = ("mjj", "mj1", "delta_mj", "tau21_j1", "tau21_j2")
INPUTS = COLUMNS[1:]
HEADER = ",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
EVENTS_PER_TASK = 15_000
N_REFERENCE = 20_000
N_SENSITIVITY = 10_000  # same-detector background for the expected sensitivity only
N_SIGNAL_POOL = 1500
# name: W' (mass, X mass, Y mass) [GeV] and signal fraction, or None; trigger pT [GeV]
TASKS: dict[str, dict] = {
    "m3000": {"signal": (3000.0, 300.0, 80.0), "fraction": 0.005},
    "m4000": {"signal": (4000.0, 500.0, 200.0), "fraction": 0.003},
    "m4000-weak": {"signal": (4000.0, 500.0, 200.0), "fraction": 0.001},
    "m5000": {"signal": (5000.0, 400.0, 150.0), "fraction": 0.001},
    "background": {"signal": None},
    "turn-on": {"signal": None, "leading_pt_min_gev": 1450.0},
}
# The reference's detector: other calorimeter and tracking resolutions than the data's.
REFERENCE_DETECTOR = {"ecal_stochastic": 0.06, "ecal_const": 0.006, "hcal_stochastic": 1.15,
                      "hcal_const": 0.06, "track_res_per_gev": 1.2e-4, "track_efficiency": 0.93}
Z_DETECTABLE, Z_UNDETECTABLE = 5.0, 3.0


def sample(process: str, n: int, seed: int, workers: int,
           params: dict[str, float] | None = None,
           detector: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Features (and leading-jet pT, GeV) of ``n`` triggered events, generated when missing.

    Events with undefined tau21 (single-constituent jets) are dropped.
    """
    from aihep.events import GenerationConfig, SelectionConfig, generate
    from aihep.events.config import DetectorConfig, JetConfig
    from aihep.events.features import features_from_events
    from aihep.workflow.executor import ExecutorConfig

    config = GenerationConfig(
        process=process, n_events=n, seed=seed, chunk_size=1000, params=params or {},
        detector=DetectorConfig(**(detector or {})), jets=JetConfig(max_jets=2),
        selection=SelectionConfig(min_jets=2, leading_jet_pt_min_gev=1200.0))
    tag = "".join(f"-{k.split('_')[1]}{v:g}" for k, v in sorted((params or {}).items()))
    out = CACHE / "pools" / f"{process}{tag}{'-smeared' if detector else ''}-{seed}"
    events = generate(config, out, ExecutorConfig(kind="local", workers=workers)).read()
    table = features_from_events(events, str(out))
    table["pt_j1"] = np.asarray(np.hypot(events.jets.px[:, 0], events.jets.py[:, 0]))
    ok = np.all([np.isfinite(table[c]) for c in COLUMNS], axis=0)
    return {k: v[ok] for k, v in table.items()}


def _write_csv(path: Path, table: dict[str, np.ndarray]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        handle.write(HEADER)
        for i in range(len(table["mjj"])):
            handle.write(f"{i}," + ",".join(f"{table[c][i]:.6g}" for c in COLUMNS) + "\n")
    tmp.replace(path)


def asimov_z(s: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Median discovery significance of s signal over b known background events."""
    s, b = np.asarray(s, float), np.maximum(np.asarray(b, float), 1e-9)
    return np.sqrt(np.maximum(2 * ((s + b) * np.log1p(s / b) - s), 0.0))


def expected_sensitivity(sig: dict, bkg_task: dict, bkg_train: dict, n_injected: int,
                         seed: int) -> dict:
    """Local Z of the best supervised cut in a +-2 sigma mjj window at the true mass.

    A gradient-boosted classifier learns signal vs background on half of each independent
    sample inside the window; its efficiencies on the other halves scale the injected signal
    and the task's own background count in the window. The cut keeps >= 3 expected
    background events (no claim from a fraction of an event).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    lo, hi = np.percentile(sig["mjj"], [16, 84])
    centre, sigma = np.median(sig["mjj"]), (hi - lo) / 2
    window = (centre - 2 * sigma, centre + 2 * sigma)

    def inside(t: dict) -> np.ndarray:
        return (t["mjj"] >= window[0]) & (t["mjj"] < window[1])

    xs = np.column_stack([sig[c][inside(sig)] for c in INPUTS])
    xb = np.column_stack([bkg_train[c][inside(bkg_train)] for c in INPUTS])
    rng = np.random.default_rng(seed)
    s_half, b_half = rng.random(len(xs)) < 0.5, rng.random(len(xb)) < 0.5
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(
        np.concatenate([xs[s_half], xb[b_half]]),
        np.r_[np.ones(s_half.sum()), np.zeros(b_half.sum())])
    ps, pb = clf.predict_proba(xs[~s_half])[:, 1], clf.predict_proba(xb[~b_half])[:, 1]
    s_window = n_injected * inside(sig).mean()
    b_window = float(inside(bkg_task).sum())
    cuts = np.unique(np.quantile(ps, np.linspace(0, 0.99, 100)))
    eff_s = np.array([(ps >= c).mean() for c in cuts])
    eff_b = np.array([max((pb >= c).mean(), 1 / len(pb)) for c in cuts])
    b = b_window * eff_b
    z = np.where(b >= 3, asimov_z(s_window * eff_s, b), 0.0)
    best = int(np.argmax(z))
    verdict = ("detectable" if z[best] >= Z_DETECTABLE else
               "undetectable" if z[best] < Z_UNDETECTABLE else "borderline")
    return {"window_gev": [float(window[0]), float(window[1])],
            "signal_in_window": float(s_window), "background_in_window": b_window,
            "z_window_only": float(asimov_z(s_window, b_window)),
            "z_expected": float(z[best]), "signal_efficiency": float(eff_s[best]),
            "background_efficiency": float(eff_b[best]), "verdict": verdict}


def pool_split(n_pool: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows of the QCD pool: each task's (by name, disjoint) and the sensitivity sample's."""
    order = np.random.default_rng(seed + 30).permutation(n_pool)
    n_task = (n_pool - N_SENSITIVITY) // len(TASKS)
    return ({name: order[k * n_task:(k + 1) * n_task] for k, name in enumerate(TASKS)},
            order[-N_SENSITIVITY:])


def signal_split(n_pool: int, n_inject: int, task: str, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a signal pool: those injected into ``task`` and the rest (never in its data)."""
    pick = np.random.default_rng(seed + 40 + list(TASKS).index(task)).permutation(n_pool)
    return pick[:n_inject], pick[n_inject:]


def build_tasks(names: list[str], seed: int, workers: int, rebuild: bool = False
                ) -> dict[str, dict]:
    """Write each task's directory and truth (kept when present); the truth per task."""
    truth_dir = CACHE / "truth"
    if not rebuild and all((truth_dir / f"{n}.json").is_file() for n in names):
        return {n: json.loads((truth_dir / f"{n}.json").read_text()) for n in names}
    n_pool = EVENTS_PER_TASK * len(TASKS) + N_SENSITIVITY
    bkg = sample("qcd-dijet", n_pool, seed + 100, workers)
    reference = sample("qcd-dijet", N_REFERENCE, seed + 200, workers,
                       detector=REFERENCE_DETECTOR)
    task_rows, sens_rows = pool_split(len(bkg["mjj"]), seed)
    sens_bkg = {c: v[sens_rows] for c, v in bkg.items()}
    truths = {}
    for k, name in enumerate(TASKS):
        if name not in names:
            continue
        spec = TASKS[name]
        data = {c: bkg[c][task_rows[name]] for c in (*COLUMNS, "pt_j1")}
        truth: dict = {"signal": None, "n_signal": 0, "expected": None,
                       "reference": {"seed": seed + 200, "detector": REFERENCE_DETECTOR}}
        if "leading_pt_min_gev" in spec:
            keep = data["pt_j1"] > spec["leading_pt_min_gev"]
            data = {c: v[keep] for c, v in data.items()}
            truth["leading_pt_min_gev"] = spec["leading_pt_min_gev"]
        labels = np.zeros(len(data["mjj"]), int)
        if spec["signal"] is not None:
            m_w, m_x, m_y = spec["signal"]
            sig = sample("wprime-xy", N_SIGNAL_POOL, seed + int(m_w), workers,
                         {"m_wprime_gev": m_w, "m_x_gev": m_x, "m_y_gev": m_y})
            n_sig = round(spec["fraction"] * len(labels))
            inject, rest = signal_split(len(sig["mjj"]), n_sig, name, seed)
            data = {c: np.concatenate([data[c], sig[c][inject]]) for c in data}
            labels = np.concatenate([labels, np.ones(n_sig, int)])
            background_only = {c: v[:len(labels) - n_sig] for c, v in data.items()}
            truth.update(
                signal={"m_wprime_gev": m_w, "m_x_gev": m_x, "m_y_gev": m_y}, n_signal=n_sig,
                expected=expected_sensitivity({c: v[rest] for c, v in sig.items()},
                                              background_only, sens_bkg, n_sig, seed + k))
        shuffle = np.random.default_rng(seed + 50 + k).permutation(len(labels))
        data = {c: v[shuffle] for c, v in data.items()}
        labels = labels[shuffle]
        task_dir = CACHE / "tasks" / name
        task_dir.mkdir(parents=True, exist_ok=True)
        _write_csv(task_dir / "events.csv", data)
        _write_csv(task_dir / "background_only.csv", reference)
        truth_dir.mkdir(parents=True, exist_ok=True)
        (truth_dir / f"{name}_labels.csv").write_text(
            "index,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
        truth.update(n_events=len(labels), signal_percentage=100 * labels.mean())
        (truth_dir / f"{name}.json").write_text(json.dumps(truth, indent=2) + "\n")
        truths[name] = truth
        print(f"task {name}: {json.dumps(truth)}", flush=True)
    return truths


def wall_seconds(run: Path) -> float:
    """Wall time the agent spent on a run, from its record, summed over sessions.

    A session starts with the memory read the orchestrator makes first and ends at its last
    entry, so a run resumed after a crash counts the work of every session once.
    """
    from aihep.workflow.provenance import read_entries

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


def reviews(run: Path) -> list[dict]:
    """The reviewer's verdict on the best trial of every hunt the agent ran."""
    out = []
    for path in sorted(run.rglob("results.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "review" not in result:
            continue
        best = result.get("best_trial") or result.get("best") or {}
        out.append({"hunt": str(path.parent.relative_to(run)), "p_value": result.get("p_value"),
                    "significant": result.get("significant"),
                    "uncut_fit_pvalue": result.get("uncut_fit_pvalue"),
                    "method": best.get("method"),
                    "signal_region_gev": best.get("signal_region_gev"),
                    "passed": result["review"]["passed"],
                    "checks": {c["name"]: c["passed"] for c in result["review"]["checks"]},
                    "failed": [c["detail"] for c in result["review"]["checks"]
                               if not c["passed"]]})
    return out


def score(truth: dict, answers: dict, metrics: dict) -> dict:
    """Success and yield pull of one run against its task's truth (see the module doc)."""
    claimed = bool(answers["discovery"])
    true_mass = truth["signal"]["m_wprime_gev"] if truth["signal"] else None
    verdict = truth["expected"]["verdict"] if truth.get("expected") else "no signal"
    right_mass = claimed and true_mass is not None and abs(
        answers["m_res"] - true_mass) < 0.05 * true_mass
    if verdict == "detectable":
        success = right_mass
    elif verdict in ("borderline", "undetectable"):
        success = right_mass or not claimed
    else:
        success = not claimed
    pull = None
    if claimed and answers.get("n_signal_error"):
        # with the error on the truth's side when the answer has an asymmetric interval
        lower = answers.get("n_signal_lower", -answers["n_signal_error"])
        upper = answers.get("n_signal_upper", answers["n_signal_error"])
        pull = asymmetric_pull(answers["n_signal"], lower, upper, truth["n_signal"])[0]
    auc = metrics["all_events"]["auc"]
    tau = metrics.get("tau21_all_events", {}).get("auc")
    return {"success": bool(success), "expected": verdict, "claimed": claimed,
            "right_mass": bool(right_mass), "yield_pull": pull,
            "auc_at_least_tau21": None if not claimed or auc is None or tau is None
            else bool(auc >= tau)}


def _no_answer(kind: str, name: str, truth: dict, true_mass: float | None, run: Path,
               error: str) -> dict:
    """The row of a run that gave no answer (every hunt failed or was refused): wrong."""
    verdict = truth["expected"]["verdict"] if truth.get("expected") else "no signal"
    return {"planner": kind, "task": name, "true_mass_gev": true_mass,
            "injected": truth["n_signal"], "success": False, "error": error,
            "p_value": None, "m_res": None, "m_res_error": None, "n_signal": None,
            "n_signal_error": None, "auc": None, "max_sic": None,
            "minutes": wall_seconds(run) / 60, "discovery": False, "right_mass": False,
            "expected": verdict, "z_expected": (truth["expected"] or {}).get("z_expected"),
            "yield_pull": None, "auc_tau21": None, "auc_at_least_tau21": None,
            "no_claim_because": None, "reviews": reviews(run), "truth": truth,
            "metrics": None}


def _write(rows: list[dict], args: argparse.Namespace) -> dict:
    summary = {}
    for kind in {r["planner"] for r in rows}:
        mine = [r for r in rows if r["planner"] == kind]
        pulls = [r["yield_pull"] for r in mine if r["yield_pull"] is not None]
        summary[kind] = {"success_rate": float(np.mean([r["success"] for r in mine])),
                         "tasks": len(mine), "minutes": float(sum(r["minutes"] for r in mine)),
                         "false_claims": sum(r["discovery"] and not r["right_mass"]
                                             for r in mine),
                         "yield_pulls_within_2": all(abs(p) <= 2 for p in pulls)}
    out = {"benchmark": "agent", "commit": args.commit, "date": utc_now(),
           "claim_threshold": "global p < 1e-3 (global Z > 3.09)",
           "expected_sensitivity": {"detectable": f"Z_expected >= {Z_DETECTABLE:g}",
                                    "undetectable": f"Z_expected < {Z_UNDETECTABLE:g}"},
           "events_per_task": EVENTS_PER_TASK, "reference_events": N_REFERENCE,
           "reference_detector": REFERENCE_DETECTOR, "keep_fraction": args.keep,
           "bump_scan": args.bump_scan,
           "summary": summary, "runs": rows}
    write_result(ROOT / "results" / args.results, out)
    return summary


def _table(rows: list[dict], summary: dict) -> None:
    def f(x, fmt=".2f"):
        return "-" if x is None else format(x, fmt)

    print("\n| planner | task | W' [GeV], injected | expected (Z) | claim | global p | "
          "m_res [GeV] | n_signal | yield pull | AUC | AUC tau21 | max SIC | right | min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        truth = f"{r['true_mass_gev']:.0f}, {r['injected']}" if r["true_mass_gev"] else "none"
        z = f"{r['expected']} ({r['z_expected']:.1f})" if r["z_expected"] else r["expected"]
        m = f"{r['m_res']:.0f} +- {r['m_res_error']:.0f}" if r["discovery"] else "-"
        n = f"{r['n_signal']:.0f} +- {r['n_signal_error']:.0f}" if r["discovery"] else "-"
        print(f"| {r['planner']} | {r['task']} | {truth} | {z} | "
              f"{'yes' if r['discovery'] else 'no'} | {f(r['p_value'], '.2g')} | {m} | {n} | "
              f"{f(r['yield_pull'], '+.1f')} | {f(r['auc'], '.3f')} | "
              f"{f(r['auc_tau21'], '.3f')} | {f(r['max_sic'], '.1f')} | "
              f"{'yes' if r['success'] else 'NO'} | {r['minutes']:.1f} |")
    for kind, s in summary.items():
        print(f"{kind}: {s['success_rate']:.0%} of {s['tasks']} tasks right, "
              f"{s['false_claims']} false claims, {s['minutes']:.0f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planners", default="playbook,local,llm")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--keep", type=float, default=None, help="fraction of each SR kept "
                        "by the anomaly cut (default: the tool's, HuntConfig.keep_fraction, "
                        "what `aihep agent solve` uses; runs before 2026-12-07 passed 0.02)")
    parser.add_argument("--bump-scan", choices=("spectrum", "signal_region"),
                        default="signal_region", help="HuntConfig.bump_scan of every hunt; runs "
                        "go to runs/<planner>-signal_region, or runs/<planner> with spectrum")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", default=None, help="file under benchmarks/results/ "
                        "(default: agent.json; agent_spectrum.json with spectrum)")
    parser.add_argument("--rebuild", action="store_true", help="rewrite the task files")
    parser.add_argument("--build-only", action="store_true", help="only write the task files")
    parser.add_argument("--fresh", action="store_true", help="discard earlier runs")
    parser.add_argument("--merge", nargs="+", metavar="FILE", help="only merge the runs of "
                        "results files (of streams run in parallel) into --results")
    args = parser.parse_args()
    from aihep.discovery.hunt import HuntConfig

    default_keep = HuntConfig().keep_fraction
    if args.keep is None:
        args.keep = default_keep
    if not 0 < args.keep <= 1:
        parser.error(f"--keep must be in (0, 1], got {args.keep:g}")
    # another cut than the tool's writes its own file: agent.json stays the tool's measurement
    tag = "" if args.keep == default_keep else f"_keep{args.keep:g}"
    args.results = args.results or ("agent_spectrum" if args.bump_scan == "spectrum"
                                    else "agent") + f"{tag}.json"
    if args.merge:
        parts = [json.loads((ROOT / "results" / f).read_text()) for f in args.merge]
        rows = [r for part in parts for r in part["runs"]]
        args.commit = ",".join(sorted({p["commit"] for p in parts}))
        _table(rows, _write(rows, args))
        return
    args.commit = git_commit()  # the code measured: the commit when the run starts
    names = args.tasks.split(",")
    truths = build_tasks(names, args.seed, args.workers, args.rebuild)
    if args.build_only:
        return
    from aihep.agent.llm import make_planner
    from aihep.agent.solve import evaluate, solve

    rows: list[dict] = []
    summary: dict = {}
    for kind in available_planners(args.planners.split(",")):
        for name in names:
            truth = truths[name]
            suffix = "" if args.bump_scan == "spectrum" else f"-{args.bump_scan}"
            if args.keep != 0.02:  # the runs of the 2% cut keep their old directories
                suffix += f"-keep{args.keep:g}"
            run = CACHE / "runs" / f"{kind}{suffix}" / name
            if run.exists() and args.fresh:
                import shutil

                shutil.rmtree(run)  # else an interrupted run resumes from its record
            start = time.perf_counter()
            true_mass = truth["signal"]["m_wprime_gev"] if truth["signal"] else None
            try:
                answers = solve(CACHE / "tasks" / name, run, seed=args.seed,
                                hunt={"keep_fraction": args.keep, "bump_scan": args.bump_scan},
                                planner=make_planner(kind))
            except InputError as exc:  # every hunt failed or was refused: no answer
                print(f"{kind} {name}: no answer: {exc}", flush=True)
                rows.append(_no_answer(kind, name, truth, true_mass, run, str(exc)))
                summary = _write(rows, args)
                continue
            print(f"{kind} {name}: {time.perf_counter() - start:.0f} s this session",
                  flush=True)
            metrics = evaluate(run, CACHE / "truth" / f"{name}_labels.csv", true_mass)
            verdict = score(truth, answers, metrics)
            row = {"planner": kind, "task": name, "true_mass_gev": true_mass,
                   "injected": truth["n_signal"], "success": verdict["success"],
                   "p_value": answers["p_value"], "m_res": answers["m_res"],
                   "m_res_error": answers["m_res_error"], "n_signal": answers["n_signal"],
                   "n_signal_error": answers["n_signal_error"],
                   "auc": metrics["all_events"]["auc"],
                   "max_sic": metrics["all_events"]["max_sic"],
                   "minutes": wall_seconds(run) / 60, "discovery": answers["discovery"],
                   "right_mass": verdict["right_mass"], "expected": verdict["expected"],
                   "z_expected": (truth["expected"] or {}).get("z_expected"),
                   "yield_pull": verdict["yield_pull"],
                   "auc_tau21": metrics.get("tau21_all_events", {}).get("auc"),
                   "auc_at_least_tau21": verdict["auc_at_least_tau21"],
                   "no_claim_because": answers.get("no_claim_because"),
                   "reviews": reviews(run), "truth": truth, "metrics": metrics}
            rows.append(row)
            summary = _write(rows, args)  # after every task: a long run keeps what it did
            print(json.dumps({k: row[k] for k in ("planner", "task", "success", "p_value",
                                                  "m_res", "n_signal", "minutes")}),
                  flush=True)
    _table(rows, summary)


if __name__ == "__main__":
    main()
