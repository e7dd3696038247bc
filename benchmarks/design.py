"""Benchmark: detector design optimizers on equal budgets of simulator calls.

Problems: ``spectrometer`` (benchmark B) and ``calorimeter`` (benchmark A; its electron
shower libraries are built first if missing: ~2 core-hours). Per problem, optimizer and seed
(>= 5 seeds): a run of ``--budget`` calls (350; ``cma-es-10x`` and ``ppo-10x``: 10x), the
best design re-evaluated on 20k fresh events (the calorimeter: on an independent library).
Runs are cached under .cache/benchmarks/design/ (resumable: a killed run replays its
record), rows written to benchmarks/results/design.json after every run.

Reported: each optimizer against random search (one-sided Wilcoxon, paired by seed), the gap
to CMA-ES at 10x budget, llm+tr against random+tr and heuristic+tr, the fraction of LLM
proposals that were invalid (projected), wall time per optimizer, and the relative
improvements next to the published ones (they depend on the baseline). For the calorimeter
also: the pion resolution of an AHCAL-like design against CALICE's 57.6%/sqrt(E) + 1.6%
(target: within 20% at 50 and 100 GeV), the library against a full cascade simulation with
real scintillator layers for 3 designs (electrons), and the best designs re-ranked with the
pion model's parameters varied by +-20% (robustness).

Usage: python benchmarks/design.py [--problems spectrometer,calorimeter] [--seeds 5|3,4,5]
       [--budget 350] [--optimizers ...] [--llm none|local|openai] [--llm-threads 1]
       [--workers 1] [--merge OTHER/design.json,...] [--archive-replies]
Model replies are kept in benchmarks/results/design_llm_replies.jsonl.gz (restored into the
reply cache at start): on a fresh machine an LLM run replays them, only the simulator reruns.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from common import ROOT, git_commit, seed_list, write_result

CACHE = ROOT.parent / ".cache" / "benchmarks" / "design"
os.environ.setdefault("AIHEP_CACHE", str(ROOT.parent / ".cache" / "aihep"))
RESULTS = ROOT / "results" / "design.json"
# the language model's replies (kept in git): a run on a fresh machine replays them (only the
# simulator runs again), and they show what the model proposed
REPLIES = ROOT / "results" / "design_llm_replies.jsonl.gz"
DEFAULT = ("random", "cma-es", "cma-es-10x", "bobyqa", "optuna-tpe", "ppo", "ppo-10x",
           "heuristic", "heuristic+tr", "random+tr", "llm", "llm+tr")
PUBLISHED = {  # arXiv:2412.10237 setting, 350 proposals: baseline, RL, best LLM+TR
    "calorimeter": {"quantity": "hadronic resolution at 50 / 100 GeV (%)",
                    "baseline": [32.13, 25.19], "rl": [24.29, 18.07],
                    "llm+tr": [25.09, 18.06]},
    "spectrometer": {"quantity": "momentum resolution (%) / efficiency (%) at 100 GeV",
                     "baseline": [13.27, 99.17], "rl": [7.95, 99.90],
                     "llm+tr": [7.97, 99.91]}}


def export_replies(cache: Path, archive: Path) -> int:
    from aihep.agent.design import export_replies as export

    return export(cache, archive)


def import_replies(archive: Path, cache: Path) -> int:
    from aihep.agent.design import import_replies as restore

    return restore(archive, cache)


def run_one(problem: str, name: str, seed: int, budget: int, propose, reevaluate: int
            ) -> dict:
    from aihep.design.run import run_design_dir

    optimizer = name.removesuffix("-10x")
    calls = budget * (10 if name.endswith("-10x") else 1)
    # llm runs since repeats are filled (OptimizerConfig.fill_repeats) live apart from the
    # earlier ones, whose records hold re-evaluated repeats
    out = CACHE / problem / name / (f"seed{seed}-fill" if name.startswith("llm") else
                                    f"seed{seed}")
    done = out / "result.json"
    if done.is_file():
        row = json.loads(done.read_text())
        if "baseline_metrics" not in row:  # a row from before metrics were re-evaluated
            from aihep.design.evaluator import reevaluate as again
            from aihep.design.problems import load_problem
            from aihep.workflow.seeds import derive_seed

            spec = load_problem(problem)
            final = derive_seed(seed, "final")
            row["best_noisy_metrics"] = row["best_metrics"]
            row["best_metrics"] = again(spec, row["best_design"], reevaluate, final)[2]
            row["baseline_metrics"] = again(spec, spec.baseline, reevaluate, final)[2]
            done.write_text(json.dumps(row, indent=1))
    else:
        start, step = time.perf_counter(), max(calls // 10, 1)

        def progress(done: int, total: int, best: float) -> None:  # every tenth of the budget
            if done % step == 0 or done == total:
                if optimizer.startswith("llm"):  # an unfinished run's replies survive too
                    export_replies(CACHE / "llm_replies", REPLIES)
                print(f"  {problem} {name} seed {seed}: {done}/{total} calls, best noisy "
                      f"{best:.3f}, {time.perf_counter() - start:.0f} s", flush=True)

        row = run_design_dir(problem, out, optimizer, calls, seed, reevaluate_events=reevaluate,
                             propose=propose, progress=progress).to_dict()
    row["optimizer"] = name
    if optimizer.startswith("llm"):
        row["llm_seconds"] = llm_seconds(out / "record.jsonl")
        row["fill_repeats"] = True
    row["repeated_fraction"] = repeated_fraction(out / "record.jsonl")
    return with_cost(row)


def with_cost(row: dict) -> dict:
    """``row`` with ``cost_seconds`` where ``seconds`` is not the run's cost: a resumed run's
    ``seconds`` holds its last session only, and an LLM run's replies may come from the cache
    another run filled. The cost is then the recorded simulator time plus the model's time
    behind every reply (the optimizers' own time is small)."""
    if row["optimizer"].startswith("llm") or row.get("replayed_entries"):
        row["cost_seconds"] = row["simulator_seconds"] + row.get("llm_seconds", 0.0)
    return row


def repeated_fraction(record: Path) -> float:
    """The fraction of a run's evaluations spent on a design it had evaluated before (a
    re-measurement on a fresh seed; a proposer that repeats itself wastes its budget)."""
    from aihep.workflow.provenance import read_entries

    seen, repeated, n = set(), 0, 0
    for entry in read_entries(record):
        if entry["tool"] == "evaluate":
            key = json.dumps(entry["arguments"]["design"], sort_keys=True)
            repeated += key in seen
            seen.add(key)
            n += 1
    return repeated / max(n, 1)


def llm_seconds(record: Path) -> float:
    """The model's time behind a run's replies (from the reply cache, shared between runs)."""
    from aihep.workflow.provenance import read_entries

    total = 0.0
    for entry in read_entries(record):
        if entry["tool"] == "propose":
            digest = entry["arguments"]["prompt_sha256"]
            hits = list((CACHE / "llm_replies").glob(f"*/{digest}.json"))
            total += json.loads(hits[0].read_text())["seconds"] if hits else entry[
                "duration_s"]
    return total


QUANTITIES = {"calorimeter": ("resolution_pion_50_pct", "resolution_pion_100_pct"),
              "spectrometer": ("resolution_100_pct", "efficiency_100_pct")}


def improvements(rows: list[dict]) -> list[dict]:
    """Per problem and optimizer: baseline and best (medians over seeds, re-evaluated) of the
    quantities the published study reports, next to its numbers."""
    out = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if "baseline_metrics" in r:
            groups.setdefault((r["problem"], r["optimizer"]), []).append(r)
    for (problem, name), runs in sorted(groups.items()):
        entry = {"problem": problem, "optimizer": name, "published": PUBLISHED[problem]}
        for q in QUANTITIES[problem]:
            base = float(np.median([r["baseline_metrics"][q] for r in runs]))
            best = float(np.median([r["best_metrics"][q] for r in runs]))
            entry[q] = {"baseline": base, "best": best,
                        "relative_change_pct": 100 * (best / base - 1)}
        out.append(entry)
    return out


def calorimeter_checks(workers: int) -> dict:
    """CALICE comparison, library vs full simulation, robustness inputs."""
    from aihep.design.calorimeter import (
        CalorimeterSettings,
        HadronModel,
        electron_signals,
        evaluate_layers,
        resolution,
        sampling_weights,
    )

    out: dict = {}
    # AHCAL-like: 38 layers of 5 mm scintillator every 25 mm of iron, then a tail catcher
    z = np.concatenate([np.arange(38) * 25.0, 950 + np.arange(1, 6) * 100.0])
    t = np.full(len(z), 5.0)
    rows = []
    for e in (10.0, 20.0, 30.0, 50.0, 80.0, 100.0):
        s = CalorimeterSettings(particles=("pion",), energies_gev=(e,))
        ours = evaluate_layers(z, t, s, 10_000, 1)[f"resolution_pion_{e:g}_pct"]
        calice = 100 * float(np.hypot(0.576 / np.sqrt(e), 0.016))
        rows.append({"energy_gev": e, "ours_pct": ours, "calice_pct": calice,
                     "ratio": ours / calice})
    out["calice_ahcal"] = {"design": "38 x (20 mm Fe + 5 mm scint) + 5 tail-catcher layers "
                           "every 100 mm", "rows": rows,
                           "within_20pct_at_50_100": all(abs(r["ratio"] - 1) <= 0.2 for r in
                                                         rows if r["energy_gev"] >= 50)}
    # library vs full simulation with real scintillator slabs (electrons, 3 designs)
    from aihep.fastsim.cascade import Calorimeter, CascadeConfig, simulate_shower
    from aihep.fastsim.geometry import CaloLayout, Slab
    from aihep.workflow import seeds

    designs = {"baseline-like": (np.arange(8) * 98.0, np.full(8, 5.0)),
               "dense-thin": (np.arange(16) * 30.0, np.full(16, 2.0)),
               "front-thick": (np.array([0.0, 20, 40, 70, 110, 160, 230, 330]),
                               np.full(8, 5.0))}
    checks = []
    settings = CalorimeterSettings()
    n = 400
    for name, (zd, td) in designs.items():
        for energy in settings.energies_gev:
            lib = electron_signals(settings, energy, zd, td)
            w = sampling_weights(zd, td, settings.depth_mm)
            slabs, edge = [], 0.0
            for zi, ti in zip(zd, td, strict=True):
                if zi > edge:
                    slabs.append(Slab(material="Fe", thickness_mm=zi - edge))
                slabs.append(Slab(material="scintillator", thickness_mm=ti, active=True))
                edge = zi + ti
            slabs.append(Slab(material="Fe", thickness_mm=settings.depth_mm - edge))
            # the library's own cascade settings: the check isolates the library approximation
            kernel = CascadeConfig(max_loss=settings.library_max_loss,
                                   path_correction=settings.library_path_correction,
                                   scattering="tangent", scattering_power="highland")
            calo = Calorimeter(CaloLayout(cell=tuple(slabs), n_cells=1,
                                          radial_edges_mm=(0.0, 1e5)), kernel)
            active = np.array([s.active for s in slabs])
            start = time.perf_counter()
            full = []
            for i in range(n):
                profile = np.zeros(len(slabs))
                simulate_shower(calo, 1e3 * energy, seeds.rng(4242, "shower", i), profile)
                full.append(profile[active])
            full = np.array(full) @ w
            checks.append({"design": name, "energy_gev": energy,
                           "library_resolution_pct": 100 * resolution(lib @ w),
                           "full_resolution_pct": 100 * resolution(full),
                           "full_showers": n, "full_seconds": time.perf_counter() - start,
                           "full_over_library_response": float(full.mean() / (lib @ w).mean())})
            print(checks[-1], flush=True)
    out["library_vs_full"] = checks
    out["hadron_model"] = HadronModel().model_dump()
    return out


def robustness(rows: list[dict]) -> list[dict]:
    """The five best calorimeter designs re-ranked with each pion-model parameter at
    +-20%: the rank of the nominal best in every variation."""
    from aihep.design.calorimeter import CalorimeterSettings, HadronModel
    from aihep.design.problems import load_problem

    problem = load_problem("calorimeter")
    best = sorted((r for r in rows if r["problem"] == "calorimeter"),
                  key=lambda r: r["best_objective"])[:5]
    if len(best) < 2:
        return []
    nominal = HadronModel()
    out = []
    for field in ("sigma_fem", "h_over_e", "intrinsic", "sigma_shape", "hadron_quantum",
                  "interaction_length_mm"):
        for factor in (0.8, 1.2):
            model = nominal.model_copy(update={field: getattr(nominal, field) * factor})
            settings = CalorimeterSettings(hadron=model, library="test").model_dump()
            varied = problem.model_copy(update={"objective_spec": problem.objective_spec
                                                .model_copy(update={"settings": settings})})
            values = [varied.objective(r["best_design"], seed=9) for r in best]
            ranks = list(np.argsort(np.argsort(values)))
            out.append({"parameter": field, "factor": factor, "objectives": values,
                        "rank_of_nominal_best": int(ranks[0]) + 1})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="spectrometer,calorimeter")
    parser.add_argument("--optimizers", default=",".join(DEFAULT))
    parser.add_argument("--seeds", default="5", help="a count (1..N) or a list (3,4,5); "
                        "rows of other seeds already in design.json are kept")
    parser.add_argument("--budget", type=int, default=350)
    parser.add_argument("--reevaluate-events", type=int, default=20_000)
    parser.add_argument("--llm", default="none", help="none | local | openai")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--llm-threads", type=int, default=1,
                        help="threads of the embedded model (1 when the cores are shared)")
    parser.add_argument("--archive-replies", action="store_true",
                        help=f"only write the cached model replies to {REPLIES.name} (a run "
                        "does it after every row; use it to keep an unfinished run's replies)")
    parser.add_argument("--merge", default="", help="design.json files of runs made in other "
                        "checkouts (comma-separated): their rows of --problems x --optimizers "
                        "replace ours; nothing is run")
    args = parser.parse_args()
    commit = git_commit()
    if args.archive_replies:
        print(f"{export_replies(CACHE / 'llm_replies', REPLIES)} replies in {REPLIES}")
        return
    propose, llm_note = None, "llm rows: not run (no language model: --llm local|openai)"
    if args.llm != "none":
        from aihep.agent.design import chat_proposer

        restored = import_replies(REPLIES, CACHE / "llm_replies")
        if restored:
            print(f"{restored} model replies restored from {REPLIES.name}", flush=True)
        propose = chat_proposer(args.llm, cache_dir=CACHE / "llm_replies",
                                n_threads=args.llm_threads)
        llm_note = (f"llm backend: {args.llm}; replies cached by prompt, so llm+tr reuses "
                    "the replies of llm's first rounds (llm_seconds: the model's own time)")
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    rows = [r for r in old.get("rows", [])]
    checks = old.get("calorimeter_checks", {})

    def save() -> None:
        from aihep.design.compare import summarize

        for r in rows:
            with_cost(r)
        summary = [s.to_dict() for s in summarize(rows)]
        write_result(RESULTS, {"benchmark": "design", "budget": args.budget,
                               "seeds": sorted({r["seed"] for r in rows}),
                               "llm": llm_note, "rows": rows,
                               "summary": summary, "published": PUBLISHED,
                               "improvements": improvements(rows),
                               "calorimeter_checks": checks}, commit)

    if args.merge:
        chosen = set(args.problems.split(",")), set(args.optimizers.split(","))
        for other in args.merge.split(","):
            try:
                data = json.loads(Path(other).read_text())
                assert isinstance(data["rows"], list) and "commit" in data
            except (OSError, ValueError, KeyError, TypeError, AssertionError):
                parser.error(f"--merge: {other} is not a design.json of this benchmark "
                             "(a JSON object with 'rows' and 'commit')")
            if data.get("llm", "").startswith("llm backend"):
                llm_note = data["llm"]
            for row in data["rows"]:
                row.setdefault("commit", data["commit"])
                if row["problem"] in chosen[0] and row["optimizer"] in chosen[1]:
                    rows = [r for r in rows if (r["problem"], r["optimizer"], r["seed"]) != (
                        row["problem"], row["optimizer"], row["seed"])] + [row]
        commit = old.get("commit", commit)  # the file's own runs keep their commit
        save()
    for problem in [] if args.merge else args.problems.split(","):
        if problem == "calorimeter":
            from aihep.design.calorimeter import CalorimeterSettings, build_electron_library

            for library in ("train", "test"):
                for energy in CalorimeterSettings().energies_gev:
                    build_electron_library(CalorimeterSettings(), energy, library,
                                           args.workers)
            if "calice_ahcal" not in checks:
                checks.update(calorimeter_checks(args.workers))
                save()
        for name in args.optimizers.split(","):
            if name.startswith("llm") and propose is None:
                continue
            for seed in seed_list(args.seeds):
                start = time.perf_counter()
                row = run_one(problem, name, seed, args.budget, propose,
                              args.reevaluate_events)
                row.setdefault("commit", commit)  # the code that ran it
                rows = [r for r in rows if (r["problem"], r["optimizer"], r["seed"]) != (
                    problem, name, seed)] + [row]
                save()
                if name.startswith("llm"):
                    export_replies(CACHE / "llm_replies", REPLIES)
                print(f"{problem} {name} seed {seed}: best {row['best_objective']:.3f} "
                      f"(baseline {row['baseline_objective']:.3f}), "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
        if problem == "calorimeter":
            checks["robustness"] = robustness(rows)
            save()
    from aihep.design.compare import paired_test, summarize

    print(f"\n{llm_note}")
    print("| problem | optimizer | seeds | calls | baseline | best (median) | improvement "
          "| vs random p (wins) | gap to CMA-ES 10x | invalid | s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summarize(rows):
        gap = "" if s.gap_to_cma10x_pct is None else f"{s.gap_to_cma10x_pct:+.1f}%"
        p = "" if s.vs_random_p is None else f"{s.vs_random_p:.3f} ({s.vs_random_wins})"
        print(f"| {s.problem} | {s.optimizer} | {s.seeds} | {s.calls} | "
              f"{s.baseline_median:.3f} | {s.best_median:.3f} | {s.improvement_pct:.1f}% | "
              f"{p} | {gap} | {s.invalid_fraction:.2f} | {s.seconds_median:.0f} |")
    print("\nre-evaluated quantities (median over seeds) vs the published study "
          "(arXiv:2412.10237 setting; relative changes depend on the baseline):")
    for entry in improvements(rows):
        parts = [f"{q}: {v['baseline']:.2f} -> {v['best']:.2f} ({v['relative_change_pct']:+.0f}%)"
                 for q, v in entry.items() if isinstance(v, dict) and "best" in v]
        print(f"  {entry['problem']} {entry['optimizer']}: " + "; ".join(parts))
    for problem, pub in PUBLISHED.items():
        print(f"  published {problem} ({pub['quantity']}): baseline {pub['baseline']}, "
              f"RL {pub['rl']}, LLM+TR {pub['llm+tr']}")
    from aihep.report.design import convergence_figure
    from aihep.report.html import save_figure

    for problem in sorted({r["problem"] for r in rows}):
        figure = RESULTS.parent / f"design_{problem}_convergence.png"
        save_figure(convergence_figure([r for r in rows if r["problem"] == problem]), figure)
        print(f"{problem}: best objective so far vs calls in {figure}")
    for problem in {r["problem"] for r in rows}:
        by = {(r["optimizer"], r["seed"]): r["best_objective"] for r in rows
              if r["problem"] == problem}
        for control in ("random+tr", "heuristic+tr"):
            seeds = [k for (o, k) in by if o == "llm+tr" and (control, k) in by]
            if seeds:
                p = paired_test([by["llm+tr", k] for k in seeds], [by[control, k]
                                                                   for k in seeds])
                print(f"{problem}: llm+tr vs {control}: p = {p}")


if __name__ == "__main__":
    main()
