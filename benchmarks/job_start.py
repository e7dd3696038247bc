"""Benchmark: how long an agent job takes to start, forked from aihep's warm process server
against Python's ``spawn``, on the same machine, timed the same way.

Each agent tool call runs as a job in a new process (``aihep.agent.jobs``). With ``spawn``
the process is a fresh interpreter that imports numpy, torch, scikit-learn and the toolkit
before the tool runs; with the process server (``aihep.workflow.processes``, the default on
Linux) it is forked from an interpreter that imported every job tool's module once. For each
start method this script runs, in a new Python process (so the server starts cold), ``--jobs``
jobs that each import the module of one agent tool (``--module``, default the hunt) and
return, with the agent's preload (every job tool's module of the default registry). It
reports the first job's wall time (the server's own start included), the median of the
others, and the median time the job spent importing.

Usage: python benchmarks/job_start.py [--jobs 6] [--module aihep.discovery.hunt]
Writes benchmarks/results/job_start.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, git_commit, utc_now, write_result


def touch(module: str) -> float:
    """The job: import ``module`` (as the tool's call would) and return the seconds it took."""
    start = time.perf_counter()
    importlib.import_module(module)
    return time.perf_counter() - start


def measure(module: str, jobs: int) -> dict:
    """Run ``jobs`` jobs in this process the way the agent's runner does; wall times in s."""
    from aihep.agent.jobs import JobConfig, run_job
    from aihep.agent.registry import default_registry

    preload = tuple(sorted({t.function.__module__ for t in default_registry().tools.values()
                            if t.job}))
    walls, imports = [], []
    for _ in range(jobs):
        start = time.perf_counter()
        outcome = run_job(touch, {"module": module}, JobConfig(retries=0, preload=preload))
        walls.append(time.perf_counter() - start)
        if outcome.status != "ok":
            msg = f"job failed: {outcome.message}"
            raise SystemExit(msg)
        imports.append(outcome.output)
    return {"first_job_s": walls[0], "later_job_median_s": statistics.median(walls[1:]),
            "import_median_s": statistics.median(imports), "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--module", default="aihep.discovery.hunt")
    args = parser.parse_args()
    if args.jobs < 2:
        parser.error("--jobs: at least 2 (the first job starts the server)")
    commit = git_commit()
    rows = []
    for method in ("spawn", "forkserver"):
        code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import job_start; "
                "print(json.dumps(job_start.measure(sys.argv[2], int(sys.argv[3]))))")
        env = {**os.environ, "AIHEP_START_METHOD": method}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, str(ROOT), args.module,
                               str(args.jobs)], env=env, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            msg = f"{method}: {done.stderr.strip().splitlines()[-1]}"
            raise SystemExit(msg)
        row = {"start_method": method, **json.loads(done.stdout.strip().splitlines()[-1]),
               "total_s": time.perf_counter() - start}
        rows.append(row)
    print(f"\njobs importing {args.module} (agent preload), {args.jobs} per method, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| start method | first job [s] | later jobs, median [s] | import in the job [s] |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['start_method']} | {r['first_job_s']:.2f} | {r['later_job_median_s']:.2f} "
              f"| {r['import_median_s']:.2f} |")
    write_result(ROOT / "results" / "job_start.json",
                 {"benchmark": "job_start", "date": utc_now(), "module": args.module,
                  "load_average_1min": os.getloadavg()[0], "rows": rows}, commit)


if __name__ == "__main__":
    main()
