"""Tool calls as jobs: results, timeouts with bounded retries, CPU limits, crashes, resume."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aihep.agent.jobs import JobConfig, run_job
from aihep.agent.policy import Policy
from aihep.agent.runner import RECORD, ToolRunner, verify_run
from aihep.agent.tools import ToolRegistry, make_tool
from aihep.errors import InputError
from aihep.workflow.provenance import read_entries


def square(x: float) -> dict:
    """Square a number in a job process; report the process id."""
    return {"square": x * x, "pid": os.getpid()}


def sleepy(seconds: float) -> float:
    """Sleep (wall time, no CPU)."""
    time.sleep(seconds)
    return seconds


def spin(seconds: float) -> float:
    """Burn CPU for up to ``seconds``."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def flaky(marker: Path) -> str:
    """Crash the first time (hard exit), succeed the second."""
    if not marker.exists():
        marker.write_text("crashed once\n")
        os._exit(3)
    return "recovered"


def bad_input(path: Path) -> None:
    """Fail with a toolkit error (not retried)."""
    raise InputError(path, "file", "an existing file")


def test_job_runs_in_a_child_process():
    outcome = run_job(square, {"x": 3.0}, JobConfig(retries=0))
    assert outcome.status == "ok" and outcome.output["square"] == 9.0
    assert outcome.output["pid"] != os.getpid()


def test_timeout_is_retried_with_backoff_then_reported():
    start = time.perf_counter()
    outcome = run_job(sleepy, {"seconds": 30.0},
                      JobConfig(timeout_seconds=1.0, retries=2, backoff_seconds=0.5))
    assert outcome.status == "timeout"
    assert [a["status"] for a in outcome.attempts] == ["timeout"] * 3
    assert time.perf_counter() - start < 25  # killed, not waited for (3 x 1 s + 1.5 s backoff)


def test_cpu_limit_kills_a_runaway_call_and_is_not_retried():
    outcome = run_job(spin, {"seconds": 60.0}, JobConfig(cpu_seconds=1, retries=2))
    assert outcome.status == "cpu-limit" and len(outcome.attempts) == 1


def test_crash_is_retried_and_toolkit_errors_are_not(tmp_path):
    outcome = run_job(flaky, {"marker": tmp_path / "m"}, JobConfig(retries=1,
                                                                    backoff_seconds=0))
    assert outcome.status == "ok" and outcome.output == "recovered"
    assert [a["status"] for a in outcome.attempts] == ["crashed", "ok"]
    error = run_job(bad_input, {"path": tmp_path / "nope"}, JobConfig(retries=2))
    assert error.status == "error" and "nope" in error.message and len(error.attempts) == 1


def test_runner_records_attempts_and_resumes_without_rerunning(tmp_path):
    registry = ToolRegistry()
    registry.add(make_tool(flaky, reads=(), cpu_seconds=10, job=True))
    policy = Policy(run_dir=tmp_path / "run")
    runner = ToolRunner(registry, policy, JobConfig(retries=1, backoff_seconds=0))
    marker = tmp_path / "run" / "marker"
    first = runner.call("flaky", {"marker": str(marker)}, "test")
    assert first.status == "ok" and not first.reused
    entry = read_entries(tmp_path / "run" / RECORD)[-1]
    assert [a["status"] for a in entry["extra"]["attempts"]] == ["crashed", "ok"]
    # The agent "crashes" here; a new runner on the same directory resumes the record.
    marker.unlink()  # were the call repeated, it would crash again first
    resumed = ToolRunner(registry, policy, JobConfig(retries=0))
    again = resumed.call("flaky", {"marker": str(marker)}, "test")
    assert again.status == "ok" and again.reused and again.output == "recovered"
    assert not marker.exists()  # not executed
    entries = read_entries(tmp_path / "run" / RECORD)
    assert entries[-1]["status"] == "reused" and entries[-1]["extra"]["from_entry"] == 0
    assert verify_run(tmp_path / "run").ok


def _orphan_parent(marker: str) -> None:
    """Start a 30 s job, then die abruptly while it runs."""
    import threading

    threading.Timer(2.0, lambda: os._exit(0)).start()
    run_job(sleepy_marked, {"seconds": 30.0, "marker": Path(marker)}, JobConfig(retries=0))


def sleepy_marked(seconds: float, marker: Path) -> float:
    """Write our pid, then sleep."""
    marker.write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_job_dies_with_the_agent(tmp_path):
    import multiprocessing

    marker = tmp_path / "pid"
    parent = multiprocessing.get_context("spawn").Process(target=_orphan_parent,
                                                          args=(str(marker),))
    parent.start()
    parent.join(60)
    deadline = time.time() + 20
    while time.time() < deadline:
        pid = int(marker.read_text()) if marker.exists() and marker.read_text() else None
        alive = pid is not None and _running(pid)
        if pid is not None and not alive:
            break
        time.sleep(0.5)
    assert pid is not None and not alive


def noisy(n: int) -> int:
    """A job that warns the way scikit-learn does in every hunt."""
    import warnings

    for _ in range(n):
        warnings.warn("lbfgs failed to converge", UserWarning, stacklevel=1)
    return n


def test_library_warnings_stay_off_the_terminal_unless_verbose(capfd, monkeypatch):
    """A 20-minute agent solve printed ~600 lines of scikit-learn warnings from its jobs."""
    from aihep.cli.common import quiet_warnings

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    assert run_job(noisy, {"n": 3}, JobConfig(retries=0)).output == 3
    assert "lbfgs failed to converge" in capfd.readouterr().err  # what users saw
    quiet_warnings(verbose=True)
    assert "PYTHONWARNINGS" not in os.environ
    quiet_warnings(verbose=False)
    assert run_job(noisy, {"n": 3}, JobConfig(retries=0)).output == 3
    assert "lbfgs" not in capfd.readouterr().err
