"""Benchmark: anomaly detectors on an LHCO-style set, SR 3.3-3.7 TeV, three signal injections.

Data: qcd-dijet (pT-hat > 1 TeV) with the Pythia phase-space bias mHat 2.9-4.5 TeV (affordable:
~27% of triggered events fall in the SR) and W'(3500) -> X(500) Y(100), LHCO trigger, simple
detector. One background pool is split into disjoint data / reference / test subsets. Signal
is injected into the data at S/sqrt(B) in the SR of about 1, 2.2 (LHCO R&D) and 4; a disjoint
signal subset forms the labelled test set. Methods: supervised, idealized (IAD), CATHODE,
CWoLa, and the outlier detectors (autoencoder, flow density; learnt from the reference sample,
conditioned on and decorrelated from mjj). Metrics: AUC and max SIC (>= 25 background test
events) with 68% bootstrap bands, on the independent test set.

Usage: python benchmarks/anomaly.py [--scale 1.0] [--workers 2]
--scale 1 gives ~40k background events in the data SR (the issue's setting); generation is
cached under .cache/benchmarks/anomaly and regenerated when missing.
Writes benchmarks/results/anomaly.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import write_result

from aihep.discovery import metrics
from aihep.discovery.outliers import outlier
from aihep.discovery.weak import SignalRegion, cathode, cwola, idealized, supervised
from aihep.events import GenerationConfig, SelectionConfig, generate
from aihep.events.config import JetConfig
from aihep.events.features import features_from_events
from aihep.workflow.executor import ExecutorConfig

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "anomaly"
SR = SignalRegion(3300.0, 3700.0)
INPUTS = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")
METHODS = ("supervised", "idealized", "cathode", "cwola", "ae", "flow")
TRIGGER = SelectionConfig(min_jets=2, leading_jet_pt_min_gev=1200.0)


def finite_rows(table: dict) -> tuple[dict, int]:
    """Drop events with undefined features (tau21 of single-constituent jets); count them."""
    ok = np.all([np.isfinite(table[c]) for c in ("mjj", *INPUTS)], axis=0)
    return {k: v[ok] for k, v in table.items()}, int((~ok).sum())


def sample(process: str, n: int, seed: int, settings: list[str], workers: int,
           params: dict[str, float] | None = None) -> dict:
    """Feature table of ``n`` triggered events, generated into the cache when missing."""
    config = GenerationConfig(process=process, n_events=n, seed=seed, chunk_size=1000,
                              settings=settings, params=params or {},
                              jets=JetConfig(max_jets=2), selection=TRIGGER)
    tag = "".join(f"-{k.split('_')[0]}{v:g}" for k, v in sorted((params or {}).items()))
    out = CACHE / f"{process}{tag}-{seed}"
    result = generate(config, out, ExecutorConfig(kind="local", workers=workers))
    return features_from_events(result.read(), str(out))


def stack(table: dict, rows: np.ndarray) -> np.ndarray:
    return np.column_stack([table[c][rows] for c in INPUTS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--results", default="anomaly.json",
                        help="file name under benchmarks/results/")
    args = parser.parse_args()
    start = time.perf_counter()
    # Triggered events: data 150k, reference 150k, test 75k background at scale 1.
    n_data, n_ref, n_test = (int(args.scale * n) for n in (150_000, 150_000, 75_000))
    bias = ["PhaseSpace:mHatMin = 2900", "PhaseSpace:mHatMax = 4500"]
    bkg = sample("qcd-dijet", n_data + n_ref + n_test, args.seed, bias, args.workers)
    sig = sample("wprime-xy", int(max(args.scale, 0.25) * 20_000), args.seed + 1, [],
                 args.workers)
    t_gen = time.perf_counter() - start
    bkg, dropped_bkg = finite_rows(bkg)
    sig, dropped_sig = finite_rows(sig)
    print(f"dropped {dropped_bkg} background and {dropped_sig} signal events with undefined "
          "tau21 (single-constituent jets)", flush=True)
    n_bkg = len(bkg["mjj"])
    pool = np.random.default_rng(args.seed).permutation(n_bkg)
    data_rows, ref_rows, test_rows = np.split(pool, [n_data, n_data + n_ref])
    sig_rows = np.random.default_rng(args.seed + 1).permutation(len(sig["mjj"]))
    sig_sr = sig_rows[SR.contains(sig["mjj"][sig_rows])]
    sig_test = sig_sr[: len(sig_sr) // 2]
    # Reshuffle: the remaining SR events all sit late in sig_rows' order.
    sig_inject_pool = np.random.default_rng(args.seed + 2).permutation(
        sig_rows[~np.isin(sig_rows, sig_test)])
    b_sr = int(SR.contains(bkg["mjj"][data_rows]).sum())
    sr_fraction = SR.contains(sig["mjj"][sig_inject_pool]).mean()

    test_b = test_rows[SR.contains(bkg["mjj"][test_rows])]
    test_x = np.concatenate([stack(bkg, test_b), stack(sig, sig_test)])
    test_y = np.concatenate([np.zeros(len(test_b), int), np.ones(len(sig_test), int)])
    test_mjj = np.concatenate([bkg["mjj"][test_b], sig["mjj"][sig_test]])
    ref_sr = ref_rows[SR.contains(bkg["mjj"][ref_rows])]

    results = []
    outlier_scores: dict[str, np.ndarray] = {}
    for target in (1.0, 2.2, 4.0):
        n_sr = round(target * np.sqrt(b_sr))
        n_inject = round(n_sr / sr_fraction)
        inject = sig_inject_pool[:n_inject]
        x = np.concatenate([stack(bkg, data_rows), stack(sig, inject)])
        mjj = np.concatenate([bkg["mjj"][data_rows], sig["mjj"][inject]])
        truth = np.concatenate([np.zeros(len(data_rows), int), np.ones(len(inject), int)])
        s_sr = int(SR.contains(sig["mjj"][inject]).sum())
        print(f"injecting {len(inject)} signal events, {s_sr} in the SR (B_SR = {b_sr})",
              flush=True)
        row = {"target_s_over_sqrt_b": target, "s_sr": s_sr, "b_sr": b_sr,
               "s_over_b_sr": s_sr / b_sr, "s_over_sqrt_b_sr": s_sr / np.sqrt(b_sr)}
        runs = {
            "supervised": lambda x=x, mjj=mjj, truth=truth: supervised(
                x, mjj, SR, truth, test_x=test_x, seed=args.seed),
            "idealized": lambda x=x, mjj=mjj: idealized(
                x, mjj, SR, stack(bkg, ref_sr), test_x=test_x, seed=args.seed),
            "cathode": lambda x=x, mjj=mjj: cathode(x, mjj, SR, test_x=test_x, seed=args.seed),
            "cwola": lambda x=x, mjj=mjj: cwola(x, mjj, SR, test_x=test_x, seed=args.seed),
            **{kind: lambda x=x, mjj=mjj, kind=kind: outlier(
                kind, x, mjj, reference_x=stack(bkg, ref_rows),
                reference_mjj=bkg["mjj"][ref_rows], test_x=test_x, test_mjj=test_mjj,
                seed=args.seed) for kind in ("ae", "flow")},
        }
        runs = {k: v for k, v in runs.items() if k in args.methods.split(",")}
        for name, run in runs.items():
            t0 = time.perf_counter()
            # Outlier models learn from the reference alone: their test scores do not depend
            # on the injection, so they are computed once.
            if name in ("ae", "flow") and name in outlier_scores:
                scores = outlier_scores[name]
            else:
                scores = run().test_scores
            if name in ("ae", "flow"):
                outlier_scores[name] = scores
            m = metrics.evaluate(scores, test_y, min_background=25, n_bootstrap=50)
            row[name] = {**m.to_dict(), "seconds": time.perf_counter() - t0}
            print(f"S/sqrt(B)={row['s_over_sqrt_b_sr']:.2f} {name}: AUC {m.auc:.3f} "
                  f"max SIC {m.max_sic:.2f}", flush=True)
        results.append(row)

    total = time.perf_counter() - start
    out = {"benchmark": "anomaly", "scale": args.scale, "signal_region_gev": [3300, 3700],
           "n_background_triggered": n_bkg, "b_sr_data": b_sr,
           "n_test_background": len(test_b), "n_test_signal": len(sig_test),
           "dropped_undefined_tau21": {"background": dropped_bkg, "signal": dropped_sig},
           "generation_seconds": t_gen, "total_seconds": total,
           "pipeline_seconds": total - t_gen, "results": results,
           "paper_reference_max_sic": {"cathode": 14, "idealized": 14, "supervised": 18,
                                       "cwola": 11}}
    (ROOT / "results").mkdir(exist_ok=True)
    write_result(ROOT / "results" / args.results, out)
    print(f"\nSR 3.3-3.7 TeV, B_SR = {b_sr} (scale {args.scale}); test: {len(test_b)} bkg, "
          f"{len(sig_test)} signal; total {total / 60:.1f} min (generation {t_gen / 60:.1f}, "
          f"pipeline {(total - t_gen) / 60:.1f})\n")
    print("| S/sqrt(B) in SR | S/B | method | AUC | max SIC (68% band) |")
    print("|---|---|---|---|---|")
    for row in results:
        for name in (m for m in METHODS if m in row):
            r = row[name]
            print(f"| {row['s_over_sqrt_b_sr']:.2f} | {row['s_over_b_sr']:.4f} | {name} | "
                  f"{r['auc']:.3f} | {r['max_sic']:.2f} ({r['max_sic_band'][0]:.2f}-"
                  f"{r['max_sic_band'][1]:.2f}) |")


if __name__ == "__main__":
    main()
