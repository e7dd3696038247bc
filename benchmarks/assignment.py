"""Benchmark: jet-parton assignment in all-hadronic ttbar, aihep's SPANet-style network
against the chi2 permutation method and the ``spanet`` package on the same files.

Data: ``--events`` selected events (>= 6 jets, >= 2 b-tags; default 300k, about 1.7M
generated: hours of Pythia, cached under .cache/benchmarks/assignment/ and resumed), the
last ``--test`` events a fixed test set (it must hold >= 5k fully matched 6-jet events), the
rest for training (10% of it for validation). Per seed (>= 3): our network and the spanet
package with the same hidden size, data and epochs (parameter counts reported for both);
chi2 with masses fitted on the training events. Efficiencies by 6 / 7 / >= 8 jets on fully
matched events and on all events (binomial errors), inference events/s for every method.

spanet runs in its own venv (.cache/spanet-venv: spanet==2.1.1, pytorch-lightning==1.8.6,
setuptools 77-80 for pkg_resources (torch 2.13 needs >= 77.0.3), rich==12.6.0, torch pinned
like ours) through ``benchmarks/spanet_shim.py`` (numpy aliases), with
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1; if it cannot run, its rows say "not measured" and why.
Both use split symmetric attention (spanet's default); ours adds its kinematic features
(pair-feature attention bias, a learned W/top-mass term per triplet; ``--plain`` without);
our jet embedding gets the number of layers that brings its parameter count closest to
spanet's (both counts are reported).

spanet and our network train side by side, each on half of ``--workers`` threads. Both resume
an interrupted training from their last checkpoint (ours through aihep.nn.train, spanet
through Lightning's ``last.ckpt``); the train minutes add up the attempts.

Usage: python benchmarks/assignment.py [--events 300000] [--test 40000] [--seeds 3|2,3]
       [--epochs 20] [--workers 2] [--skip-spanet] [--plain]
Writes the ``assignment`` part of benchmarks/results/event_model.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import ROOT, git_commit, merged_rows, seed_list, write_result

CACHE = ROOT.parent / ".cache" / "benchmarks" / "assignment"
RESULTS = ROOT / "results" / "event_model.json"
SPANET_VENV = ROOT.parent / ".cache" / "spanet-venv"
SPANET_PINS = ["spanet==2.1.1", "pytorch-lightning==1.8.6", "setuptools>=77.0.3,<81",
               "rich==12.6.0"]
EVENT_YAML = """INPUTS:
  SEQUENTIAL:
    Source:
      mass: log_normalize
      pt: log_normalize
      eta: normalize
      phi: normalize
      btag: none

EVENT:
  t1: [q1, q2, b]
  t2: [q1, q2, b]

PERMUTATIONS:
  EVENT:
    - [t1, t2]
  t1:
    - [q1, q2]
  t2:
    - [q1, q2]
"""


def spanet_python() -> Path:
    """The spanet venv's python, created (pinned) if missing."""
    python = SPANET_VENV / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(SPANET_VENV)], check=True)
        subprocess.run([str(SPANET_VENV / "bin" / "pip"), "install", "--quiet", "-c",
                        str(ROOT.parent / "constraints.txt"), *SPANET_PINS], check=True)
    return python


def spanet_options(hidden: int, epochs: int) -> dict:
    """spanet's options for the CPU configuration (split symmetric attention, its default)."""
    return {"hidden_dim": hidden, "num_embedding_layers": 2, "num_encoder_layers": 4,
            "num_branch_embedding_layers": 1, "num_branch_encoder_layers": 1,
            "num_jet_embedding_layers": 0, "num_jet_encoder_layers": 0,
            "partial_events": True, "batch_size": 256, "learning_rate": 1e-3,
            "epochs": epochs, "num_dataloader_workers": 1, "train_validation_split": 0.9}


def spanet_parameters(train_file: Path, out: Path, hidden: int) -> int:
    """Trainable parameters of the network spanet builds for these options and file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "event.yaml").write_text(EVENT_YAML)
    (out / "options.json").write_text(json.dumps(spanet_options(hidden, 1)))
    result = subprocess.run([str(spanet_python()), str(ROOT / "spanet_shim.py"), "--count",
                             str(out / "event.yaml"), str(train_file),
                             str(out / "options.json")], capture_output=True, text=True,
                            check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return int(result.stdout.split()[-1])


def matched_embedding(hidden: int, target: int | None, kinematic: bool) -> int:
    """The number of embedding layers that brings our parameter count closest to spanet's
    (2, our default, when spanet's count is unknown)."""
    from aihep.assign.model import AssignmentModelConfig, AssignmentNet, parameter_count

    if target is None:
        return 2

    def count(layers: int) -> int:
        return parameter_count(AssignmentNet(AssignmentModelConfig(
            hidden=hidden, embed_layers=layers, kinematic_features=kinematic)))

    return min(range(1, 16), key=lambda layers: abs(count(layers) - target))


def run_spanet(train_file: Path, test_file: Path, out: Path, hidden: int, epochs: int,
               seed: int, threads: int) -> dict:
    """Train and predict with the spanet package; its predictions as (N, 6) and timings."""
    import h5py

    from aihep.io.assignment import PARTONS
    from aihep.workflow.manifest import sha256_file

    python = spanet_python()
    out.mkdir(parents=True, exist_ok=True)
    done = out / "result.json"  # a finished run (same options and files) is not redone
    options = spanet_options(hidden, epochs)
    key = {"options": options, "train": sha256_file(train_file), "test": sha256_file(test_file),
           "seed": seed}
    if done.is_file() and json.loads(done.read_text()).get("key") == key:
        timings = json.loads(done.read_text())
    else:
        (out / "event.yaml").write_text(EVENT_YAML)
        (out / "options.json").write_text(json.dumps(options))
        timings = {"key": key, **spanet_train_predict(python, out, train_file, test_file,
                                                        epochs, seed, threads, key)}
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(timings))
        tmp.replace(done)
    with h5py.File(out / "predictions.h5") as f:
        group = next(k for k in f if k.upper().endswith("TARGETS"))
        predictions = np.stack([f[f"{group}/{p}"][()] for p in PARTONS], axis=1)
    return {"predictions": predictions, **{k: v for k, v in timings.items() if k != "key"}}


def spanet_train_predict(python: Path, out: Path, train_file: Path, test_file: Path,
                         epochs: int, seed: int, threads: int, key: dict) -> dict:
    """One spanet training (its own CLI on ``threads`` threads; resumed when interrupted with
    the same ``key``) and prediction on the test file."""
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
           "OMP_NUM_THREADS": str(threads)}
    shim = str(ROOT / "spanet_shim.py")
    log = out / "train.log"
    # an interrupted training (same key) resumes from Lightning's last checkpoint; the time
    # of the interrupted attempts counts up to their last saved epoch
    attempts_file = out / "attempts.json"
    attempts = json.loads(attempts_file.read_text()) if attempts_file.is_file() else {}
    last = sorted((out / "logs" / "run").glob("version_*/checkpoints/last.ckpt"),
                  key=lambda path: path.stat().st_mtime)
    resume = attempts.get("key") == key and bool(last)
    earlier = 0.0
    if not resume:
        shutil.rmtree(out / "logs", ignore_errors=True)
    else:
        earlier = attempts["seconds"] + max(0.0, last[-1].stat().st_mtime - attempts["start"])
    attempts_file.write_text(json.dumps({"key": key, "start": time.time(),
                                         "seconds": earlier}))
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "a" if resume else "w") as handle:
        subprocess.run([str(python), shim, "spanet.train", "-ef", str(out / "event.yaml"),
                        "-tf", str(train_file), "-of", str(out / "options.json"), "-l",
                        str(out / "logs"), "-n", "run", "--epochs", str(epochs), "--gpus", "0",
                        "-r", str(seed), *(["-cf", str(last[-1])] if resume else [])],
                       env=env, stdout=handle, stderr=subprocess.STDOUT, check=True)
    train_seconds = earlier + time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the training process and its data-loader workers; unknown for a resumed run
    # (the interrupted attempt's CPU time was never reported)
    train_cpu = None if resume else (used.ru_utime + used.ru_stime - cpu.ru_utime
                                     - cpu.ru_stime)
    # spanet's predict loads an epoch checkpoint of the directory it is given
    version = max((path.parent.parent for path in
                   (out / "logs" / "run").glob("version_*/checkpoints/epoch*")),
                  key=lambda path: int(path.name.split("_")[1]))
    text = log.read_text()
    params = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                   if "Total params" in line), "unknown")
    start = time.perf_counter()
    subprocess.run([str(python), shim, "spanet.predict", str(version),
                    str(out / "predictions.h5"), "-tf", str(test_file), "-ef",
                    str(out / "event.yaml"), "-bs", "1024"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"train_seconds": train_seconds, "train_cpu_seconds": train_cpu,
            "predict_seconds_with_startup": time.perf_counter() - start, "parameters": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--test", type=int, default=40_000)
    parser.add_argument("--seeds", default="3", help="a count (1..N) or a list: 2,3")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-spanet", action="store_true")
    parser.add_argument("--plain", action="store_true",
                        help="our network without the kinematic features (plain SPANet)")
    args = parser.parse_args()
    commit = git_commit()
    import torch

    from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset
    from aihep.assign.metrics import efficiencies
    from aihep.assign.model import AssignmentModelConfig
    from aihep.assign.run import AssignTrainConfig, evaluate_events, train_file
    from aihep.io.assignment import write_events, write_spanet
    from aihep.nn.train import TrainConfig

    start = time.perf_counter()
    data = build_assignment_dataset(AssignmentDataConfig(n_events=args.events),
                                    CACHE / "data", args.workers,
                                    lambda d, n: print(f"  events {d}/{n}", flush=True))
    generation_minutes = (time.perf_counter() - start) / 60
    events = data.read()
    test = events.select(np.arange(len(events) - args.test, len(events)))
    train = events.select(np.arange(len(events) - args.test))
    matched6 = int(((test.n_jets == 6) & (test.targets >= 0).all(1)).sum())
    train_file_h5 = write_spanet(CACHE / "train_spanet.h5", train)
    test_file_h5 = write_spanet(CACHE / "test_spanet.h5", test)
    write_events(CACHE / "train.h5", train)
    seeds = seed_list(args.seeds)
    setup = {"events": args.events, "test": args.test, "epochs": args.epochs,
             "hidden": args.hidden, "plain": args.plain}
    rows, runs = [], []
    rows_so_far = rows
    chi2 = evaluate_events(test, "chi2", train_events=train)
    rows += chi2.rows
    runs.append({"method": "chi2", "events_per_second": chi2.events_per_second, **{
        k: v for k, v in chi2.to_dict().items() if k not in ("rows", "method")}})
    target = None
    if not args.skip_spanet:
        try:
            target = spanet_parameters(train_file_h5, CACHE / "spanet_count", args.hidden)
        except (subprocess.CalledProcessError, OSError, ValueError, IndexError) as error:
            print(f"spanet parameter count failed: {error}")
    kinematic = not args.plain
    embed_layers = matched_embedding(args.hidden, target, kinematic)
    print(f"spanet parameters: {target}; our embedding layers: {embed_layers}")
    # spanet (a subprocess) and ours train side by side, each on its share of the cores
    spanet_threads = 0 if args.skip_spanet else max(1, args.workers // 2)
    torch.set_num_threads(max(1, args.workers - spanet_threads))
    for seed in seeds:
        with ThreadPoolExecutor(1) as pool:
            spanet_job = None if args.skip_spanet else pool.submit(
                run_spanet, train_file_h5, test_file_h5, CACHE / f"spanet_seed{seed}",
                args.hidden, args.epochs, seed, spanet_threads)
            run_dir = CACHE / f"aihep_seed{seed}"
            config = AssignTrainConfig(
                model=AssignmentModelConfig(hidden=args.hidden, embed_layers=embed_layers,
                                            kinematic_features=kinematic, seed=seed),
                train=TrainConfig(epochs=args.epochs, batch_size=256, learning_rate=1e-3,
                                  patience=args.epochs, seed=seed))
            trained = train_file(CACHE / "train.h5", run_dir, config, force=True)
            ours = evaluate_events(test, "aihep-spanet", run=run_dir, seed=seed)
            rows += ours.rows
            runs.append({"method": "aihep-spanet", "seed": seed,
                         "parameters": trained.parameters, "embed_layers": embed_layers,
                         "kinematic_features": kinematic,
                         "threads": torch.get_num_threads(),
                         "train_minutes": sum(trained.epoch_seconds) / 60,  # also if resumed
                         # CPU time (core-minutes), comparable whatever the core shares were;
                         # None when some epochs come from a checkpoint without it
                         "train_cpu_minutes": sum(trained.epoch_cpu_seconds) / 60
                         if len(trained.epoch_cpu_seconds) == len(trained.epoch_seconds)
                         else None,
                         "epoch_seconds": trained.epoch_seconds,
                         "events_per_second": ours.events_per_second})
            if spanet_job is not None:
                try:
                    result = spanet_job.result()
                    rows += efficiencies(result["predictions"], test.targets, test.n_jets,
                                         "spanet", seed)
                    runs.append({"method": "spanet", "seed": seed,
                                 "parameters": target or result["parameters"],
                                 "threads": spanet_threads,
                                 "train_minutes": result["train_seconds"] / 60,
                                 "train_cpu_minutes": None if result.get(
                                     "train_cpu_seconds") is None
                                 else result["train_cpu_seconds"] / 60,
                                 "events_per_second_with_startup": len(test) / result[
                                     "predict_seconds_with_startup"]})
                except (subprocess.CalledProcessError, OSError, KeyError,
                        StopIteration) as error:
                    runs.append({"method": "spanet", "seed": seed,
                                 "not_measured": f"{type(error).__name__}: {error}"[:500]})
        old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        done = [s for s in seeds if s <= seed]
        # chi2 (seed None) is recomputed by every run; other seeds' rows are kept when they
        # were measured with the same data and training (not those of another size)
        keep = [*done, None] if old.get("assignment_setup") == setup else None
        rows_all = merged_rows(RESULTS, rows, keep, commit, "assignment")
        runs_all = merged_rows(RESULTS, runs, keep, commit, "assignment_runs")
        write_result(RESULTS, {**old, "benchmark": "event_model", "assignment": rows_all,
                               "assignment_commit": commit, "assignment_runs": runs_all,
                               "assignment_setup": setup,
                               "assignment_epochs": args.epochs,
                               "assignment_data": {
                                   **data.to_dict(), "test_events": len(test),
                                   "test_fully_matched_6jet": matched6,
                                   "generation_minutes": generation_minutes}}, commit)
        rows_so_far = rows_all
    print("\n| method | njets | subset | event eff. (mean +- std over seeds) | top eff. |")
    print("|---|---|---|---|---|")
    for method in ("chi2", "aihep-spanet", "spanet"):
        for njets in ("6", "7", ">=8"):
            for subset in ("matched", "all"):
                sel = [r for r in rows_so_far if r["method"] == method
                       and r["njets"] == njets
                       and r["subset"] == subset]
                if sel:
                    e = [r["event_efficiency"] for r in sel]
                    t = [r["top_efficiency"] for r in sel]
                    print(f"| {method} | {njets} | {subset} | {np.mean(e):.3f} +- "
                          f"{np.std(e):.3f} | {np.mean(t):.3f} |")
    print(f"test set: {len(test)} events, {matched6} fully matched 6-jet events")
    for run in runs:
        if "not_measured" in run:
            print(f"{run['method']} seed {run['seed']}: not measured: {run['not_measured']}")


if __name__ == "__main__":
    main()
