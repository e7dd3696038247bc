"""The three generators through a real SLURM (scripts/slurm-up.sh): the same bytes as local
processes, evidence that the work ran in SLURM jobs, and a rejected submission that is a clear
error within the configured timeout, never a hang.

Skipped, saying why, where no SLURM runs (`.ci/run` starts one with scripts/slurm-up.sh; it
needs root and apt).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aihep.cli import app


def _slurm_problem() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM here: run `bash scripts/slurm-up.sh` as root (installs slurm-wlm)"
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                           check=False, timeout=20)
    if state.returncode != 0 or not {"idle", "mix", "alloc"} & set(state.stdout.split()):
        return f"SLURM is installed but no node is up ({state.stdout.strip() or state.stderr})"
    return None


PROBLEM = _slurm_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")


def _completed_jobs() -> set[str]:
    """Job ids in the completion log (jobcomp/filetxt, read by `sacct -c`)."""
    out = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "jobid,jobname,state"],
                         capture_output=True, text=True, check=False, timeout=30).stdout
    return {line.split("|")[0] for line in out.splitlines() if "dask-worker" in line}


def _worker_job_ids(log_directory: Path) -> set[str]:
    """SLURM job ids of the dask workers, from their log names (dask-worker-<id>.err)."""
    return {p.stem.rsplit("-", 1)[-1] for p in log_directory.glob("dask-worker-*.err")}


def _wait_until_recorded(job_ids: set[str], seconds: float = 120.0) -> set[str]:
    """The ids among `job_ids` that reach the completion log within `seconds`: a cancelled
    worker job is recorded only once it has ended, which on a loaded node can take up to
    slurm's KillWait (30 s) after the cluster closed."""
    deadline = time.monotonic() + seconds
    while True:
        recorded = job_ids & _completed_jobs()
        if recorded == job_ids or time.monotonic() > deadline:
            return recorded
        time.sleep(1.0)


def _run(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def _files(directory: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.glob(pattern))}


COMMANDS = {
    "generate": (["generate", "qcd-dijet", "--events", "40", "--chunk-size", "20",
                  "--seed", "5"], "events/chunk-*.parquet"),
    "tag": (["tag", "dataset", "top", "--jets-per-class", "10", "--events-per-chunk", "100",
             "--seed", "4"], "jets.parquet"),
    "reco": (["reco", "simulate", "--events", "6", "--events-per-chunk", "3", "--seed", "2"],
             "events.parquet"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_slurm_gives_the_bytes_of_local_processes(tmp_path, command):
    args, pattern = COMMANDS[command]
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(f"walltime: '00:10:00'\nlog_directory: {tmp_path / 'logs'}\n")
    _run([*args, "--out", str(tmp_path / "local"), "--workers", "2", "--executor", "local"])
    start = time.perf_counter()
    _run([*args, "--out", str(tmp_path / "slurm"), "--workers", "2", "--executor", "slurm",
          "--cluster-config", str(cluster)])
    seconds = time.perf_counter() - start
    local, slurm = _files(tmp_path / "local", pattern), _files(tmp_path / "slurm", pattern)
    assert local and local == slurm, f"{command}: SLURM output differs from local"
    # the work ran in SLURM jobs: the worker logs slurm wrote for this run's jobs show the
    # workers connecting to the scheduler, and those jobs reach the completion log
    jobs = _worker_job_ids(tmp_path / "logs")
    assert jobs, f"{command}: no dask-worker job logs in {tmp_path / 'logs'}"
    new = _wait_until_recorded(jobs)
    assert new == jobs, f"{command}: SLURM jobs {sorted(jobs - new)} never reached sacct -c"
    logs = " ".join(p.read_text() for p in (tmp_path / "logs").glob("*.err"))
    assert "Starting established connection" in logs or "Registered to" in logs
    print(f"{command}: {len(slurm)} files byte-identical, SLURM jobs {sorted(new)}, "  # noqa: T201
          f"{seconds:.1f} s")


def test_a_rejected_submission_is_a_clear_error_within_the_timeout(tmp_path):
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text("queue: nosuchpartition\n")
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["generate", "qcd-dijet", "--events", "10",
                                      "--out", str(tmp_path / "out"), "--executor", "slurm",
                                      "--cluster-config", str(cluster)])
    assert time.perf_counter() - start < 120
    assert result.exit_code == 2, result.output
    assert "rejected the worker job" in result.stderr
    assert "nosuchpartition" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_stuck_submission_times_out(tmp_path):
    from aihep.errors import ConfigError
    from aihep.workflow.executor import ExecutorConfig, make_executor

    # a job that asks for more memory than the node has stays pending forever
    config = ExecutorConfig(kind="slurm", workers=1, start_timeout_seconds=8,
                            cluster={"memory": "100000GB", "job_mem": "100000G"})
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"no slurm worker started within 8 s|rejected"):
        make_executor(config)
    assert time.perf_counter() - start < 60
