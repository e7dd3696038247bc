"""Does the cascade kernel behind the calorimeter design problem's electron library matter?

The design benchmark's libraries are built with the cascade MC's first kernel (step
``max_loss`` 0.2, no path-length correction). This script builds two small 50 GeV libraries
of the same showers (seeds) with the first and the current default kernel and evaluates the
best designs of the benchmark's calorimeter rows (``benchmarks/results/design.json``) with
each: mean electron signal and resolution, and whether the designs rank alike.

Usage: python benchmarks/design_library_kernel.py [--showers 500] [--rows-every 5]
Libraries are cached under .cache/benchmarks/design_library_kernel/; writes
benchmarks/results/design_library_kernel.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import ROOT, git_commit, write_result
from scipy import stats

CACHE = ROOT.parent / ".cache" / "benchmarks" / "design_library_kernel"


def main() -> None:
    from aihep.design.calorimeter import (
        CalorimeterSettings,
        build_electron_library,
        electron_signals,
        layers_of,
        resolution,
        sampling_weights,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=500)
    parser.add_argument("--rows-every", type=int, default=5, help="every k-th calorimeter row")
    args = parser.parse_args()
    source = ROOT / "results" / "design.json"
    if args.showers < 20 or args.rows_every < 1 or not source.is_file():
        parser.error(f"--showers >= 20, --rows-every >= 1 and {source} must exist")
    start = time.perf_counter()
    kernels = {"first": CalorimeterSettings(library_events=args.showers,
                                            cache_dir=str(CACHE / "first")),
               "default": CalorimeterSettings(library_events=args.showers,
                                              cache_dir=str(CACHE / "default"),
                                              library_max_loss=0.05,
                                              library_path_correction=True)}
    for settings in kernels.values():
        build_electron_library(settings, 50.0, "train")
    rows = [r for r in json.loads(source.read_text())["rows"]
            if r["problem"] == "calorimeter"][::args.rows_every]
    out = []
    print("| design | resolution, first kernel [%] | default kernel [%] | mean signal ratio |")
    print("|---|---|---|---|")
    for row in rows:
        z, t = layers_of(row["best_design"])
        w = sampling_weights(z, t, kernels["first"].depth_mm)
        signal = {k: electron_signals(s, 50.0, z, t) @ w for k, s in kernels.items()}
        item = {"optimizer": row["optimizer"], "seed": row["seed"],
                **{f"resolution_{k}_pct": 100 * resolution(v) for k, v in signal.items()},
                "mean_ratio": float(signal["default"].mean() / signal["first"].mean())}
        out.append(item)
        print(f"| best of {row['optimizer']} seed {row['seed']} | "
              f"{item['resolution_first_pct']:.2f} | {item['resolution_default_pct']:.2f} | "
              f"{item['mean_ratio']:.4f} |")
    first = np.array([r["resolution_first_pct"] for r in out])
    default = np.array([r["resolution_default_pct"] for r in out])
    summary = {"mean_relative_change": float(np.mean(default / first - 1)),
               "spearman": float(stats.spearmanr(first, default).statistic),
               "mean_ratio_range": [min(r["mean_ratio"] for r in out),
                                    max(r["mean_ratio"] for r in out)]}
    print(f"\nresolution default / first kernel - 1: {100 * summary['mean_relative_change']:+.1f}%"
          f" on average; Spearman {summary['spearman']:.2f}")
    write_result(ROOT / "results" / "design_library_kernel.json",
                 {"benchmark": "design_library_kernel", "showers": args.showers,
                  "energy_gev": 50.0, "rows": out, **summary,
                  "minutes": (time.perf_counter() - start) / 60}, git_commit())


if __name__ == "__main__":
    main()
