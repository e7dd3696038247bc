"""Benchmark: neutrino-telescope track reconstruction, line fit vs likelihood vs hybrid GNN.

One fixed simulated set (default TRIDENT-like 200-string detector, muons 1-100 TeV, E^-1):
``--train`` events (seed 1; 10% of them validate) and ``--test`` events (seed 2), cached under
.cache/benchmarks/reco and regenerated when missing. GNN-LITE and GNN-LARGE (per-DOM emission
points + line fit) and GNN-LITE with the direct-regression head are trained (runs cached);
every method reconstructs the test events: the likelihood only the first
``--likelihood-events`` of them (it is ~1000x slower), and the table also gives every method
on that same subset. The same MPE likelihood is also maximized batched
(``likelihood-batched``: all events at once, 15 Levenberg-Marquardt steps from the line fit)
and seeded by each points GNN (``<gnn>+likelihood``; its time includes the GNN's). Times per
event are on ``--workers`` CPU cores (GNN and batched fits: batched, ``workers`` threads;
likelihood: CPU time of the iminuit fits / cores), the median of ``--repeats`` runs after a
warm-up on 256 events.

Usage: python benchmarks/reco.py [--train 60000] [--test 20000] [--likelihood-events 2000]
       [--epochs 10] [--workers 2]   (the paper: 900k/70k/100k events; ours fits 2 CPU cores)
Writes benchmarks/results/reco.json (``--out``), the resolution-vs-energy figure
benchmarks/results/reco_resolution.png (all test events; likelihood on its subset) and prints
a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "reco"


def simulated(n: int, seed: int, workers: int) -> Path:
    from aihep.reco.simulate import SimConfig, simulate_dataset

    out = CACHE / f"sim_{n}_seed{seed}"
    if (out / "events.parquet").is_file():
        return out / "events.parquet"
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  simulate seed {seed}: {done}/{total} chunks, "
              f"{time.perf_counter() - start:.0f} s", flush=True)

    return simulate_dataset(SimConfig(), n, out, seed, workers=workers, events_per_chunk=2000,
                            progress=progress)


def _reporter(name: str):
    """A training progress callback printing every 5% of the batches."""
    start = time.perf_counter()

    def report(done: int, total: int, loss: float) -> None:
        if done == total or done % max(1, total // 20) == 0:
            print(f"  train {name}: {done}/{total} batches, loss {loss:.4f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--likelihood-events", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per method (after a warm-up); the median is kept")
    parser.add_argument("--models", default="gnn-lite,gnn-large,gnn-lite-direction")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "reco.json",
                        help="results JSON; the figure goes next to it (<stem>_resolution.png)")
    args = parser.parse_args()
    import awkward as ak
    import numpy as np
    import torch

    from aihep.reco.events import load_events, truth_directions
    from aihep.reco.metrics import resolution
    from aihep.reco.run import reconstruct, train_gnn_file
    from aihep.reco.track import opening_angle

    torch.set_num_threads(args.workers)
    train_path = simulated(args.train, 1, args.workers)
    test_path = simulated(args.test, 2, args.workers)
    events = load_events(test_path, truth=True)
    truth = truth_directions(events)
    energy = ak.to_numpy(events.energy_tev)
    n_llh = min(args.likelihood_events, len(events))
    rows = []

    results = []

    def add(name: str, reco, subset: int | None = None) -> None:
        n = subset or len(events)
        full = resolution(name, reco.directions, truth[:n], energy[:n], reco.seconds)
        results.append(full)
        angle = np.degrees(opening_angle(reco.directions[:n_llh], truth[:n_llh]))
        angle = angle[np.isfinite(angle)]
        row = {"method": name, "events": n, "all": full.to_dict(),
               "prepare_seconds_per_event": reco.prepare_seconds / n,
               "quantiles_likelihood_subset_deg": {
                   q: float(np.quantile(angle, float(q))) for q in ("0.68", "0.9")}}
        if subset is None:
            row["likelihood_subset"] = resolution(
                name, reco.directions[:n_llh], truth[:n_llh], energy[:n_llh], 0.0).to_dict()
        row["above_10tev_likelihood_subset"] = resolution(
            name, reco.directions[:n_llh], truth[:n_llh], energy[:n_llh], 0.0,
            bins_tev=(10.0, 100.0)).bins[0]
        rows.append(row)
        print(json.dumps({"method": name, "median_deg": full.median_deg,
                          "ms_per_event": 1e3 * full.seconds_per_event}), flush=True)

    def timed(method: str, sample, run=None):
        """Warm up on 256 events, then the median time of ``--repeats`` runs."""
        reconstruct(method, sample[:256], run, args.workers)
        runs = [reconstruct(method, sample, run, args.workers) for _ in range(args.repeats)]
        seconds = sorted(r.seconds for r in runs)
        print(f"  {method}: {[round(1e3 * t / len(sample), 3) for t in seconds]} ms/event",
              flush=True)
        return dataclasses.replace(runs[-1], seconds=seconds[len(seconds) // 2])

    add("linefit", timed("linefit", events))
    for model in args.models.split(","):
        preset, direct, _ = model.partition("-direction")
        run = CACHE / "runs" / f"{model}_{args.train}_{args.epochs}"
        if not (run / "model.pt").is_file():
            summary = train_gnn_file(train_path, run, preset, "direction" if direct else "points",
                                     epochs=args.epochs, seed=1, progress=_reporter(model))
            print(f"  trained {model}: best epoch {summary['best_epoch']}, "
                  f"{summary['train_seconds'] / 60:.1f} min", flush=True)
        add(model, timed("gnn", events, run))
        if not direct:
            add(f"{model}+likelihood", timed("gnn+likelihood", events, run))
    add("likelihood-batched", timed("likelihood-batched", events))
    start = time.perf_counter()
    llh = timed("likelihood", events[:n_llh])
    print(f"  likelihood: {time.perf_counter() - start:.0f} s wall", flush=True)
    add("likelihood", llh, n_llh)
    out = {"benchmark": "reco", "train_events": args.train, "test_events": len(events),
           "likelihood_events": n_llh, "epochs": args.epochs, "workers": args.workers,
           "repeats": args.repeats,
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=float) + "\n")
    from aihep.report.html import pyplot
    from aihep.report.reco import resolution_figure

    pyplot()
    figure = args.out.with_name(f"{args.out.stem}_resolution.png")
    resolution_figure(results).savefig(figure, dpi=110, bbox_inches="tight")
    llh_ms = 1e3 * rows[-1]["all"]["seconds_per_event"]
    bins = rows[-1]["all"]["bins"]
    head = ["method", "ms/event", "x faster than likelihood", "input prep. ms/event"] + [
        f"{b['energy_min_tev']:g}-{b['energy_max_tev']:g} TeV" for b in bins] + [
        ">= 10 TeV", "all", "68% all", "90% all"]
    print("\nmedian angular error [deg] on the likelihood's events "
          f"(first {n_llh} test events)\n")
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for row in rows:
        sub = row.get("likelihood_subset", row["all"])
        ms = 1e3 * row["all"]["seconds_per_event"]
        cells = [row["method"], f"{ms:.3f}", f"{llh_ms / ms:.0f}" if ms > 0 else "-",
                 f"{1e3 * row['prepare_seconds_per_event']:.3f}"]
        cells += [f"{b['median_deg']:.3f}" for b in sub["bins"]] + [
            f"{row['above_10tev_likelihood_subset']['median_deg']:.3f}",
            f"{sub['median_deg']:.3f}"] + [
            f"{row['quantiles_likelihood_subset_deg'][q]:.2f}" for q in ("0.68", "0.9")]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
