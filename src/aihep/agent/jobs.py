"""Tool calls as monitored jobs: a child process (or a Dask task), timeouts, limits, retries.

A job runs ``function(**arguments)`` away from the agent. ``kind="process"`` starts a fresh
process (forked from a server that imported the job's modules once, or ``spawn``ed:
:mod:`aihep.workflow.processes`) whose CPU time and address space are capped with rlimits
(the policy's per-call limits, enforced by the kernel: a runaway call is killed with SIGXCPU
/ fails to allocate) and whose wall time is watched by the parent (the process is killed at
the timeout). ``kind="dask"`` submits the call to a Dask scheduler (``address``, or a local
cluster) and waits with the same timeout. Timeouts and crashes are retried a bounded number
of times with exponential backoff; errors of the toolkit itself (bad input: an
:class:`~aihep.errors.AihepError`) and exhausted CPU limits are not, since a retry would fail
the same way. ``kind="inline"`` runs in the agent's process (fast tools, debugging).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import AihepError
from aihep.workflow.processes import (
    ParentState,
    adopt_parent_state,
    parent_state,
    process_context,
)

JobStatus = Literal["ok", "error", "timeout", "cpu-limit", "crashed"]


class JobConfig(BaseModel):
    """How tool calls run: where, for how long, how often they are retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["inline", "process", "dask"] = "process"
    timeout_seconds: float | None = Field(None, gt=0, description="wall time per attempt")
    cpu_seconds: float | None = Field(None, gt=0, description="RLIMIT_CPU of the child")
    memory_bytes: int | None = Field(None, gt=0, description="RLIMIT_AS of the child")
    retries: int = Field(2, ge=0, description="extra attempts after a timeout or crash")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait; doubles per retry")
    address: str | None = Field(None, description="Dask scheduler (kind='dask'; default: a "
                                "local cluster)")
    preload: tuple[str, ...] = Field(
        (), description="modules the process server imports once, before its first job "
        "(kind='process'; default: the job function's module); a job starts with them loaded")


@dataclass
class JobOutcome:
    """What a job returned (``output``) or why it did not, after ``attempts`` tries."""

    status: JobStatus
    output: Any = None
    message: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)


def _jsonable(output: Any) -> Any:
    return output.to_dict() if hasattr(output, "to_dict") else output


def _apply_limits(cpu_seconds: float | None, memory_bytes: int | None) -> None:
    import resource

    if cpu_seconds is not None:
        soft = max(1, int(cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))
    if memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _die_with_parent() -> None:
    """The job is killed when the agent process dies (no orphaned work): Linux's parent-death
    signal, and a thread that waits on the agent's end of the start pipe (a job forked by the
    process server is the server's child, and the server outlives the agent while a job runs)."""
    import ctypes
    import multiprocessing
    import os
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    agent = multiprocessing.parent_process()
    if agent is not None:
        def watch() -> None:
            agent.join()
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="exit-with-agent", daemon=True).start()


def _child(conn: Any, function: Callable[..., Any], arguments: dict[str, Any],
           cpu_seconds: float | None, memory_bytes: int | None,
           state: ParentState | None = None) -> None:
    """Entry point of a job process: apply limits, run, send (status, output, message)."""
    try:
        adopt_parent_state(state)
        _die_with_parent()
        _apply_limits(cpu_seconds, memory_bytes)
        conn.send(("ok", _jsonable(function(**arguments)), ""))
    except AihepError as exc:
        conn.send(("error", None, str(exc)))
    except MemoryError:
        conn.send(("crashed", None, f"memory limit of {memory_bytes} bytes exceeded"))
    except BaseException as exc:  # report anything else as a crash, with its traceback
        conn.send(("crashed", None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _attempt_process(function: Callable[..., Any], arguments: dict[str, Any],
                     config: JobConfig) -> tuple[JobStatus, Any, str]:
    import signal

    context = process_context(config.preload or (function.__module__,))
    receive, send = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_child, args=(send, function, arguments, config.cpu_seconds,
                             config.memory_bytes, parent_state(context)))
    process.start()
    send.close()
    deadline = None if config.timeout_seconds is None else (
        time.monotonic() + config.timeout_seconds)
    message = None
    while message is None:
        wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        if receive.poll(wait):
            try:
                message = receive.recv()
            except EOFError:
                break
        elif not process.is_alive():
            if receive.poll(0):  # sent just before exiting
                continue
            break
        elif deadline is not None and time.monotonic() >= deadline:
            process.kill()
            process.join()
            return "timeout", None, f"no result within {config.timeout_seconds:g} s (killed)"
    process.join()
    if message is not None:
        return message
    # SIGXCPU at the soft CPU limit; SIGKILL at the hard one (soft + 5 s) if it was ignored
    cpu_signals = (-signal.SIGXCPU, -signal.SIGKILL) if config.cpu_seconds else ()
    if process.exitcode in cpu_signals:
        return "cpu-limit", None, f"CPU-time limit of {config.cpu_seconds:g} s exceeded"
    return "crashed", None, f"job process died with exit code {process.exitcode}"


def _attempt_dask(function: Callable[..., Any], arguments: dict[str, Any],
                  config: JobConfig) -> tuple[JobStatus, Any, str]:
    from distributed import Client, LocalCluster
    from distributed import TimeoutError as DaskTimeout

    cluster = None
    if config.address is None:
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(config.address or cluster)
    try:
        future = client.submit(_call, function, arguments, pure=False)
        try:
            return "ok", future.result(timeout=config.timeout_seconds), ""
        except (DaskTimeout, TimeoutError):
            future.cancel()
            return "timeout", None, f"no result within {config.timeout_seconds:g} s"
        except AihepError as exc:
            return "error", None, str(exc)
        except Exception as exc:  # a worker-side failure of the task
            return "crashed", None, f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _call(function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    return _jsonable(function(**arguments))


def _attempt_inline(function: Callable[..., Any], arguments: dict[str, Any],
                    config: JobConfig) -> tuple[JobStatus, Any, str]:
    try:
        return "ok", _call(function, arguments), ""
    except AihepError as exc:
        return "error", None, str(exc)


def run_job(function: Callable[..., Any], arguments: dict[str, Any],
            config: JobConfig | None = None,
            on_attempt: Callable[[dict[str, Any]], None] | None = None) -> JobOutcome:
    """Run ``function(**arguments)`` as a job; retry timeouts and crashes with backoff.

    ``function`` must be a picklable top-level function for ``process`` and ``dask`` jobs.
    ``on_attempt`` is called with each attempt's status (for the provenance record / logs).
    """
    config = config or JobConfig()
    attempt_fn = {"inline": _attempt_inline, "process": _attempt_process,
                  "dask": _attempt_dask}[config.kind]
    attempts: list[dict[str, Any]] = []
    for number in range(config.retries + 1):
        start = time.perf_counter()
        status, output, message = attempt_fn(function, arguments, config)
        attempt = {"attempt": number + 1, "status": status, "seconds":
                   round(time.perf_counter() - start, 3), "message": message.splitlines()[0]
                   if message else ""}
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)
        if status in ("ok", "error", "cpu-limit") or number == config.retries:
            return JobOutcome(status, output, message, attempts)
        time.sleep(config.backoff_seconds * 2**number)
    raise AssertionError("unreachable")
