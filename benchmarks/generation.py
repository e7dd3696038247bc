"""Benchmark: raw Pythia vs the full aihep generation path, on 1 and 2 workers.

Raw Pythia = bare ``pythia.next()`` loop of the same process and settings, no output.
Full path = ``aihep.events.generate`` (nextBatch + particle extraction + detector + anti-kT
R=1.0 + N-subjettiness + soft drop + Parquet write + manifest), counted per generated event,
wall time including process start-up and per-chunk Pythia initialization.

Usage: python benchmarks/generation.py [--events 6000] [--process qcd-dijet]
Writes benchmarks/results/generation.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from common import write_result

from aihep.events import GenerationConfig, generate
from aihep.events.factory import pythia_settings
from aihep.events.pythia import make_pythia, next_batch
from aihep.workflow.executor import ExecutorConfig
from aihep.workflow.manifest import package_versions

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks"


def raw_pythia(config: GenerationConfig, n: int) -> dict[str, float]:
    """Events/s of bare next() and of nextBatch (init excluded) for the same settings."""
    pythia = make_pythia(pythia_settings(config, seed=12345))
    start = time.perf_counter()
    done = 0
    while done < n:
        done += bool(pythia.next())
    next_rate = n / (time.perf_counter() - start)
    pythia = make_pythia(pythia_settings(config, seed=12346))
    start = time.perf_counter()
    next_batch(pythia, n // 2)
    batch_rate = (n // 2) / (time.perf_counter() - start)
    return {"next_events_per_s": next_rate, "nextbatch_events_per_s": batch_rate}


def full_path(config: GenerationConfig, workers: int) -> dict[str, object]:
    executor = ExecutorConfig(kind="local", workers=workers)
    out = CACHE / f"generation-{workers}w"
    start = time.perf_counter()
    result = generate(config, out, executor, overwrite=True)
    wall = time.perf_counter() - start
    per_event_ms = {k: 1e3 * v / result.n_generated for k, v in result.stage_seconds.items()}
    return {"workers": workers, "events": result.n_generated, "wall_s": wall,
            "events_per_s": result.n_generated / wall, "stage_ms_per_event": per_event_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--process", default="qcd-dijet")
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()

    config = GenerationConfig(process=args.process, n_events=args.events, seed=2026,
                              chunk_size=args.chunk_size)
    raw = raw_pythia(config, min(args.events, 3000))
    runs = [full_path(config, w) for w in (1, 2)]
    ratio = runs[0]["events_per_s"] / raw["next_events_per_s"]
    speedup = runs[1]["events_per_s"] / runs[0]["events_per_s"]
    result = {
        "benchmark": "generation",
        "process": args.process,
        "config": config.model_dump(mode="json"),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or
                    platform.machine(), "python": platform.python_version()},
        "versions": package_versions(),
        "raw_pythia": raw,
        "full_path": runs,
        "full_over_raw_per_core": ratio,
        "speedup_2_over_1_workers": speedup,
        "goals": {"full_over_raw_per_core": 0.65, "speedup_2_over_1_workers": 1.8},
    }
    (ROOT / "results").mkdir(exist_ok=True)
    write_result(ROOT / "results" / "generation.json", result)

    print(f"\nGeneration benchmark: {args.process}, {args.events} events, "
          f"{os.cpu_count()} cores\n")
    print("| path | workers | events/s | ms/event |")
    print("|---|---|---|---|")
    print(f"| raw Pythia `next()` | 1 | {raw['next_events_per_s']:.1f} | "
          f"{1e3 / raw['next_events_per_s']:.2f} |")
    print(f"| raw Pythia `nextBatch` | 1 | {raw['nextbatch_events_per_s']:.1f} | "
          f"{1e3 / raw['nextbatch_events_per_s']:.2f} |")
    for run in runs:
        print(f"| full aihep path | {run['workers']} | {run['events_per_s']:.1f} | "
              f"{1e3 / run['events_per_s']:.2f} |")
    print(f"\nfull path / raw Pythia per core: {ratio:.2f} (goal >= 0.65); "
          f"speed-up 1 -> 2 workers: {speedup:.2f} (goal >= 1.8)\n")
    print("| stage (1 worker) | ms/event |")
    print("|---|---|")
    for stage, ms in runs[0]["stage_ms_per_event"].items():
        print(f"| {stage} | {ms:.3f} |")


if __name__ == "__main__":
    main()
