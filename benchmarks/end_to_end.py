"""Benchmark: `aihep hunt --sr-scan` end to end on a full-mass-range dataset, signal mass untold.

One full-range QCD pool (qcd-dijet, pT-hat > 1 TeV, LHCO trigger, no mHat bias; shared with
benchmarks/no_signal.py and regenerated if missing) is split into disjoint data and reference
subsets. W'(3600) -> X(400) Y(150) events (mass not given to the hunt) are injected into the
data. The hunt scans overlapping SR windows over the whole mjj range with the chosen methods
and reports the global p-value (look-elsewhere over windows x methods), m_res and n_signal.
The same data without the injection must report no discovery.

Usage: python benchmarks/end_to_end.py [--signal 300] [--methods cwola,ae] [--workers 2]
Writes benchmarks/results/end_to_end.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from anomaly import finite_rows, sample
from common import write_result

from aihep.discovery.hunt import HuntConfig, hunt
from aihep.workflow.executor import ExecutorConfig

ROOT = Path(__file__).resolve().parent
SIGNAL = {"m_wprime_gev": 3600.0, "m_x_gev": 400.0, "m_y_gev": 150.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", type=int, default=300, help="injected signal events")
    parser.add_argument("--events", type=int, default=20_000, help="background data events")
    parser.add_argument("--methods", default="cwola,ae")
    parser.add_argument("--keep-fraction", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    bkg, _ = finite_rows(sample("qcd-dijet", 100_000, args.seed + 100, [], args.workers))
    sig, _ = finite_rows(sample("wprime-xy", 3000, args.seed + 101, [], args.workers, SIGNAL))
    # Disjoint subsets of the pool: data from the front, reference from the back.
    order = np.random.default_rng(args.seed + 20).permutation(len(bkg["mjj"]))
    data_rows, ref_rows = order[: args.events], order[-args.events:]
    inject = np.random.default_rng(args.seed + 21).permutation(len(sig["mjj"]))[: args.signal]
    reference = {k: v[ref_rows] for k, v in bkg.items()}
    config = HuntConfig(methods=tuple(args.methods.split(",")), sr_scan=True,
                        keep_fraction=args.keep_fraction, seed=args.seed)
    engine = ExecutorConfig(kind="local", workers=args.workers)
    rows = {}
    for name, n_sig in (("with signal", args.signal), ("background only", 0)):
        data = {k: np.concatenate([bkg[k][data_rows], sig[k][inject[:n_sig]]])
                for k in ("mjj", "mj1", "delta_mj", "tau21_j1", "tau21_j2")}
        data["label"] = np.concatenate([np.zeros(len(data_rows), int), np.ones(n_sig, int)])
        start = time.perf_counter()
        result = hunt(data, config, reference, source=name, executor=engine)
        summary = result.to_dict()
        rows[name] = {"injected": n_sig, "seconds": time.perf_counter() - start,
                      **{k: summary.get(k) for k in (
                          "p_value", "significance", "p_value_local", "significance_local",
                          "discovery", "n_trials", "m_res", "width", "n_signal",
                          "daughter_masses", "uncut_fit_pvalue")},
                      "best_trial": {k: summary["best_trial"][k] for k in (
                          "method", "signal_region_gev", "window_gev", "z_local")},
                      "limits_all_events": summary.get("limits", {}).get("all events")}
        print(name, json.dumps(rows[name], default=float)[:600], flush=True)
    truth_mjj = float(np.median(sig["mjj"]))
    out = {"benchmark": "end_to_end", "truth": {**SIGNAL, "median_signal_mjj_gev": truth_mjj},
           "methods": list(config.methods), "keep_fraction": args.keep_fraction,
           "background_events": args.events, "reference_events": args.events, "runs": rows}
    (ROOT / "results").mkdir(exist_ok=True)
    write_result(ROOT / "results" / "end_to_end.json", out)
    print("\n| dataset | injected | global p | Z | best method / SR | m_res [GeV] | n_signal |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        sr = r["best_trial"]["signal_region_gev"]
        m = f"{r['m_res']['value']:.0f} +- {r['m_res']['error']:.0f}" if r["m_res"] else "-"
        n = (f"{r['n_signal']['value']:.0f} +- {r['n_signal']['error']:.0f}"
             if r["n_signal"] else "-")
        print(f"| {name} | {r['injected']} | {r['p_value']:.2g} | {r['significance']:.2f} | "
              f"{r['best_trial']['method']} / {sr[0]:g}-{sr[1]:g} | {m} | {n} |")
    print(f"\ntruth: m_W' = {SIGNAL['m_wprime_gev']:g} GeV (median signal mjj "
          f"{truth_mjj:.0f} GeV)")


if __name__ == "__main__":
    main()
