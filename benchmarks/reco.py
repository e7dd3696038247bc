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
warm-up on 256 events. ``gnn-lite-refiner`` is GNN-LITE followed by refinement passes
(:mod:`aihep.reco.refine`; trained on GNN-LITE's tracks of the training events).

Diagnostics of the hybrid recipe: the error of the line through the true emission points
after perpendicular Gaussian noise (what per-DOM precision a given angular error needs on
this detector), each points GNN's measured per-DOM emission point errors, and the refiner's
error and time after 0-8 passes.

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

from common import write_result

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


def _first_pass_inputs(run: Path, events):
    """A points GNN run (or a refiner's seed) and its detector-frame inputs with truth."""
    from aihep.reco.gnn import graph_inputs, load_gnn

    model = load_gnn(run)
    refiner = None
    if model.config.frame == "hypothesis":
        refiner, model = model, load_gnn(run / "seed")
    return model, refiner, graph_inputs(events, model.config.max_doms)


def point_errors(run: Path, events) -> dict:
    """Per-DOM emission point errors (m) of a points GNN, or of a refiner's last pass."""
    import torch

    from aihep.reco.gnn import SCALE_M, predict_tracks
    from aihep.reco.metrics import emission_point_errors
    from aihep.reco.refine import hypothesis_inputs, refine_tracks

    model, refiner, inputs = _first_pass_inputs(run, events)
    if refiner is not None:
        directions, points = predict_tracks(model, inputs)
        directions, points = refine_tracks(refiner, inputs, directions, points,
                                           refiner.config.passes - 1)
        inputs, model = hypothesis_inputs(inputs, directions, points), refiner
    with torch.no_grad():
        predicted = model.eval()(inputs.features, inputs.coords, inputs.mask)
    return emission_point_errors(predicted.numpy() * SCALE_M, inputs.emission.numpy() * SCALE_M,
                                 inputs.direction.numpy(), inputs.mask.numpy(),
                                 inputs.charge.numpy())


def refinement_passes(run: Path, events, n_llh: int, passes: int = 8) -> list[dict]:
    """Median error >= 10 TeV (first ``n_llh`` events) and cumulative ms/event (all events)
    after 0 (the seed GNN) to ``passes`` refinement passes."""
    import numpy as np

    from aihep.reco.events import truth_directions
    from aihep.reco.gnn import predict_tracks
    from aihep.reco.refine import refine_tracks
    from aihep.reco.track import opening_angle

    model, refiner, inputs = _first_pass_inputs(run, events)
    truth = truth_directions(events)
    high = np.asarray(events.energy_tev)[:n_llh] >= 10.0
    start = time.perf_counter()
    directions, points = predict_tracks(model, inputs)
    seconds, out = time.perf_counter() - start, []
    for n_passes in range(passes + 1):
        if n_passes:
            start = time.perf_counter()
            directions, points = refine_tracks(refiner, inputs, directions, points, 1)
            seconds += time.perf_counter() - start
        angle = np.degrees(opening_angle(directions[:n_llh].astype(float), truth[:n_llh]))
        out.append({"passes": n_passes, "median_above_10tev_deg": float(np.nanmedian(
            angle[high])), "ms_per_event": 1e3 * seconds / len(events)})
    return out


def noise_bound(events, sigmas_m=(0.3, 0.6, 1.0, 3.0, 10.0)) -> list[dict]:
    """What the line fit through per-DOM points needs: median error >= 10 TeV of the line
    through the true emission points (GNN-LITE's DOMs and weights) after Gaussian noise of
    ``sigma`` m per coordinate perpendicular to the track."""
    import numpy as np
    import torch

    from aihep.reco.events import truth_directions
    from aihep.reco.gnn import SCALE_M, graph_inputs, line_through_points
    from aihep.reco.track import opening_angle

    inputs = graph_inputs(events, 64)
    truth = truth_directions(events)
    high = np.asarray(events.energy_tev) >= 10.0
    rng = np.random.default_rng(0)
    out = []
    for sigma in sigmas_m:
        noise = rng.normal(0.0, sigma, inputs.emission.shape)
        noise -= np.einsum("npi,ni->np", noise, truth)[..., None] * truth[:, None, :]
        points = inputs.emission.double() * SCALE_M + torch.from_numpy(noise)
        d = line_through_points(points, inputs.charge, inputs.time, inputs.mask,
                                inputs.features[..., :3] * SCALE_M).double().numpy()
        angle = np.degrees(opening_angle(d, truth))
        perp = np.linalg.norm(noise, axis=-1)[inputs.mask.numpy()]
        out.append({"sigma_m": sigma, "perp_median_m": float(np.median(perp)),
                    "median_above_10tev_deg": float(np.nanmedian(angle[high]))})
    return out


def print_diagnostics(diagnostics: dict, n_llh: int) -> None:
    """Markdown tables of the per-DOM precision diagnostics."""
    print(f"\nline through the true emission points with perpendicular noise (first {n_llh} "
          "test events)\n\n| noise sigma [m] | median perp. error [m] | median >= 10 TeV [deg] |"
          "\n|---|---|---|")
    for row in diagnostics["noise_bound"]:
        print(f"| {row['sigma_m']:g} | {row['perp_median_m']:.2f} | "
              f"{row['median_above_10tev_deg']:.3f} |")
    print("\nper-DOM emission point errors [m]\n\n| model | perp. median | "
          "perp. charge-weighted median | along median |\n|---|---|---|---|")
    for model, e in diagnostics["emission_point_errors"].items():
        print(f"| {model} | {e['perp_median_m']:.2f} | "
              f"{e['perp_charge_weighted_median_m']:.2f} | {e['along_median_m']:.2f} |")
    if "refinement_passes" in diagnostics:
        print("\nrefinement passes (0: the seed GNN)\n\n| passes | ms/event | "
              "median >= 10 TeV [deg] |\n|---|---|---|")
        for row in diagnostics["refinement_passes"]:
            print(f"| {row['passes']} | {row['ms_per_event']:.3f} | "
                  f"{row['median_above_10tev_deg']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--likelihood-events", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per method (after a warm-up); the median is kept")
    parser.add_argument("--models",
                        default="gnn-lite,gnn-large,gnn-lite-direction,gnn-lite-refiner")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "reco.json",
                        help="results JSON; the figure goes next to it (<stem>_resolution.png)")
    args = parser.parse_args()
    import awkward as ak
    import numpy as np
    import torch

    from aihep.reco.events import load_events, truth_directions
    from aihep.reco.metrics import resolution
    from aihep.reco.run import GNN_TRAIN, reconstruct, train_gnn_file
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
    diagnostics: dict = {"emission_point_errors": {},
                         "noise_bound": noise_bound(events[:n_llh])}

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
        preset, refiner, _ = preset.partition("-refiner")
        run = CACHE / "runs" / f"{model}_{args.train}_{args.epochs}"
        seed_run = CACHE / "runs" / f"{preset}_{args.train}_{args.epochs}" if refiner else None
        if not (run / "model.pt").is_file():
            summary = train_gnn_file(train_path, run, preset, "direction" if direct else "points",
                                     GNN_TRAIN.model_copy(update={"epochs": args.epochs}),
                                     seed=1, refine_from=seed_run,
                                     progress=_reporter(model))
            print(f"  trained {model}: best epoch {summary.best_epoch}, "
                  f"{summary.train_seconds / 60:.1f} min", flush=True)
        add(model, timed("gnn", events, run))
        if not direct and not refiner:
            add(f"{model}+likelihood", timed("gnn+likelihood", events, run))
            diagnostics["emission_point_errors"][model] = point_errors(run, events[:n_llh])
        if refiner:
            diagnostics["refinement_passes"] = refinement_passes(run, events, n_llh)
            diagnostics["emission_point_errors"][model] = point_errors(run, events[:n_llh])
    add("likelihood-batched", timed("likelihood-batched", events))
    start = time.perf_counter()
    llh = timed("likelihood", events[:n_llh])
    print(f"  likelihood: {time.perf_counter() - start:.0f} s wall", flush=True)
    add("likelihood", llh, n_llh)
    llh_seconds = rows[-1]["all"]["seconds_per_event"]
    for row in rows:  # speed ratios without and with the network's input preparation
        t = row["all"]["seconds_per_event"]
        row["x_faster_than_likelihood"] = llh_seconds / t if t > 0 else None
        t_prep = t + row["prepare_seconds_per_event"]
        row["x_faster_incl_preparation"] = llh_seconds / t_prep if t_prep > 0 else None
    out = {"benchmark": "reco", "train_events": args.train, "test_events": len(events),
           "likelihood_events": n_llh, "epochs": args.epochs, "workers": args.workers,
           "repeats": args.repeats,
           "rows": rows, **diagnostics}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, out)
    from aihep.report.html import pyplot
    from aihep.report.reco import resolution_figure

    pyplot()
    figure = args.out.with_name(f"{args.out.stem}_resolution.png")
    resolution_figure(results).savefig(figure, dpi=110, bbox_inches="tight")
    llh_ms = 1e3 * rows[-1]["all"]["seconds_per_event"]
    bins = rows[-1]["all"]["bins"]
    head = ["method", "ms/event", "x faster than likelihood", "input prep. ms/event",
            "x faster incl. prep."] + [
        f"{b['energy_min_tev']:g}-{b['energy_max_tev']:g} TeV" for b in bins] + [
        ">= 10 TeV", "all", "68% all", "90% all"]
    print("\nmedian angular error [deg] on the likelihood's events "
          f"(first {n_llh} test events)\n")
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for row in rows:
        sub = row.get("likelihood_subset", row["all"])
        ms = 1e3 * row["all"]["seconds_per_event"]
        prep = 1e3 * row["prepare_seconds_per_event"]
        cells = [row["method"], f"{ms:.3f}", f"{llh_ms / ms:.0f}" if ms > 0 else "-",
                 f"{prep:.3f}", f"{llh_ms / (ms + prep):.0f}" if ms + prep > 0 else "-"]
        cells += [f"{b['median_deg']:.3f}" for b in sub["bins"]] + [
            f"{row['above_10tev_likelihood_subset']['median_deg']:.3f}",
            f"{sub['median_deg']:.3f}"] + [
            f"{row['quantiles_likelihood_subset_deg'][q]:.2f}" for q in ("0.68", "0.9")]
        print("| " + " | ".join(cells) + " |")
    print_diagnostics(diagnostics, n_llh)


if __name__ == "__main__":
    main()
