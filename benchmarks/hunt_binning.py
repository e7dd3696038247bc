"""Benchmark: the hunt's boosted trees with aihep's weighted-quantile bins against
scikit-learn's own binning, on the same toy datasets, both timed the same way.

The weakly supervised classifiers balance their classes with sample weights. scikit-learn 1.9
then places each feature's 255 bins at weighted quantiles found one sort per quantile; aihep
(``ClassifierConfig.binning = "weighted-quantiles"``, the default since commit 7351676) finds
the same quantiles in one sort per feature and hands the trees the bin indices. This script
runs the CWoLa hunt (5 folds x 2 trees, signal regions sliding over 3.0-4.6 TeV, 100 toys,
no limits) with each binning on toy dijet datasets the binning was not tuned on: injected
resonances at 3.5 and 4.2 TeV of two strengths and a background-only set, with other
spectra and jet features than the tests' toys. It
prints, per dataset and binning, the claim, its global significance, the fitted mass and
yield, the AUC of the final scores against the truth labels and the wall time.

Usage: python benchmarks/hunt_binning.py [--seeds 1] [--threads 1]
Writes benchmarks/results/hunt_binning.json.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import ROOT, git_commit, seed_list, write_result

DATASETS = (  # (name, background events, signal events, resonance mass [GeV])
    ("3.5 TeV, 500 signal", 40_000, 500, 3500.0),
    ("3.5 TeV, 300 signal", 40_000, 300, 3500.0),
    ("4.2 TeV, 400 signal", 40_000, 400, 4200.0),
    ("background only", 40_000, 0, 3500.0),
)


def toy_table(n_bkg: int, n_sig: int, mass_gev: float, seed: int) -> dict[str, np.ndarray]:
    """A dijet-like spectrum (2.6-6 TeV, another shape than the tests' toys) with four jet
    features unlike the tests' (log-normal and exponential masses, Beta(6, 3) tau21), and a
    resonance decaying to a 150 GeV and a 450 GeV two-pronged jet. Masses in GeV."""
    from aihep.discovery.dijet import bin_integrals

    rng = np.random.default_rng(seed)
    edges = np.arange(2600.0, 6001.0, 50.0)
    weights = bin_integrals(edges, np.array([1.0, 7.0, 5.0]), 13000.0)
    mjj = np.concatenate([
        np.repeat(edges[:-1], rng.multinomial(n_bkg, weights / weights.sum()))
        + rng.uniform(0, 50.0, n_bkg),
        rng.normal(mass_gev, 0.025 * mass_gev, n_sig)])
    is_signal = np.arange(n_bkg + n_sig) >= n_bkg
    n = len(is_signal)
    table = {
        "mjj": mjj,
        "mj1": np.where(is_signal, rng.normal(150.0, 12.0, n), rng.lognormal(np.log(70.0), 0.6, n)),
        "delta_mj": np.where(is_signal, rng.normal(300.0, 30.0, n), rng.exponential(120.0, n)),
        "tau21_j1": np.where(is_signal, rng.beta(3, 6, n), rng.beta(6, 3, n)),
        "tau21_j2": np.where(is_signal, rng.beta(3, 6, n), rng.beta(6, 3, n)),
        "label": is_signal.astype(int)}
    order = rng.permutation(n)
    return {k: v[order] for k, v in table.items()}


def run_one(table: dict[str, np.ndarray], binning: str, seed: int) -> dict:
    from aihep.discovery.classifiers import ClassifierConfig
    from aihep.discovery.hunt import HuntConfig, hunt
    from aihep.discovery.metrics import auc

    config = HuntConfig(methods=("cwola",), n_toys=100, limits=False, seed=seed,
                        sr_scan=True, scan_range_gev=(3000.0, 4600.0),
                        classifier=ClassifierConfig(n_ensemble=2, binning=binning))
    start = time.perf_counter()
    result = hunt(table, config)
    seconds = time.perf_counter() - start
    summary = result.to_dict()
    labels = table["label"][result.order]
    row = {"binning": binning, "seconds": seconds, "discovery": bool(result.discovery),
           "significance": float(result.significance),
           "m_res_gev": summary.get("m_res", {}).get("value"),
           "n_signal": summary.get("n_signal", {}).get("value"),
           "auc": float(auc(result.scores, labels)) if labels.any() else None}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1", help="a count or a comma-separated list")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of the trees")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before scikit-learn starts its pool
    commit = git_commit()
    rows = []
    for seed in seed_list(args.seeds):
        for name, n_bkg, n_sig, mass in DATASETS:
            table = toy_table(n_bkg, n_sig, mass, seed=100 * seed + len(rows))
            for binning in ("weighted-quantiles", "sklearn"):
                row = {"dataset": name, "true_mass_gev": mass if n_sig else None,
                       "n_signal_true": n_sig, "seed": seed, **run_one(table, binning, seed)}
                rows.append(row)
                print(row, flush=True)
    print("\n| dataset | seed | binning | claim | Z global | m_res [GeV] | n_signal | AUC | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mass = f"{r['m_res_gev']:.0f}" if r["m_res_gev"] is not None else "-"
        yield_ = f"{r['n_signal']:.0f}" if r["n_signal"] is not None else "-"
        auc = f"{r['auc']:.3f}" if r["auc"] is not None else "-"
        print(f"| {r['dataset']} | {r['seed']} | {r['binning']} | "
              f"{'yes' if r['discovery'] else 'no'} | {r['significance']:.2f} | {mass} | "
              f"{yield_} | {auc} | {r['seconds']:.1f} |")
    ours = [r["seconds"] for r in rows if r["binning"] == "weighted-quantiles"]
    theirs = [r["seconds"] for r in rows if r["binning"] == "sklearn"]
    speedup = float(np.sum(theirs) / np.sum(ours))
    print(f"\nwall time, all hunts: {np.sum(ours):.0f} s against {np.sum(theirs):.0f} s "
          f"({speedup:.1f}x)")
    write_result(ROOT / "results" / "hunt_binning.json",
                 {"commit": commit, "threads": args.threads, "rows": rows,
                  "speedup": speedup}, commit=commit)


if __name__ == "__main__":
    main()
