"""Executors: run independent tasks serially, on local processes, or through Dask.

Dask is the scale-out engine: ``dask-local`` starts a ``distributed.LocalCluster``;
``slurm`` and ``htcondor`` start ``dask_jobqueue.SLURMCluster`` / ``HTCondorCluster`` with the
options given in ``ExecutorConfig.cluster`` (queue, cores, memory, walltime, ...: passed to the
cluster class unchanged) and scale it to ``workers`` jobs. Tasks must be picklable top-level
functions; they should write their own outputs (shared file system) and return small results.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aihep.errors import ConfigError
from aihep.workflow.processes import (
    adopt_parent_state,
    parent_state,
    process_context,
    start_method,
)

ExecutorKind = Literal["serial", "local", "dask-local", "slurm", "htcondor"]


class ExecutorConfig(BaseModel):
    """Which engine runs the tasks and with how many workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ExecutorKind = "local"
    workers: int = Field(1, ge=1)
    cluster: dict[str, Any] = Field(default_factory=dict,
                                    description="options for the dask-jobqueue cluster class")
    start_timeout_seconds: float = Field(
        300.0, gt=0, description="wall time [s] for the first worker of a batch cluster to "
        "start; a rejected or stuck submission is an error after it, never a hang")

    @model_validator(mode="after")
    def _cluster_options_fit(self) -> ExecutorConfig:
        if self.cluster and self.kind in ("serial", "local"):
            msg = (f"cluster options ({', '.join(sorted(self.cluster))}) apply to the "
                   "slurm, htcondor or dask-local executors, not to "
                   f"'{self.kind}': choose --executor slurm (or drop --cluster-config)")
            raise ValueError(msg)
        return self


class Executor(Protocol):
    """Runs ``fn(item)`` for each item, yielding results in completion order."""

    n_workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """In-process, one task at a time (debugging, tests, single-core benchmarks)."""

    n_workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        return None


class ProcessExecutor:
    """Local worker processes: forked warm from the process server, or spawned; no state leaks
    from the parent either way (:mod:`aihep.workflow.processes`). The pool starts with the
    first tasks; the server (if this process has none yet) preloads the task function's module
    and, for tuple items, the modules of the functions they carry (the chunk engine's
    producer)."""

    def __init__(self, n_workers: int) -> None:
        start_method()  # a bad AIHEP_START_METHOD is an error before anything is written
        self.n_workers = n_workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _started(self, fn: Callable[[Any], Any], first: Any) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            carried = [getattr(f, "__module__", None) for f in first if callable(f)] \
                if isinstance(first, tuple) else []
            context = process_context([fn.__module__, *(m for m in carried if m)])
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.n_workers, mp_context=context,
                initializer=adopt_parent_state, initargs=(parent_state(context),))
        return self._pool

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        items = list(items)
        if not items:
            return
        pool = self._started(fn, items[0])
        futures = [pool.submit(fn, item) for item in items]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


LOCAL_CLUSTER_OPTIONS = ("memory_limit", "local_directory", "silence_logs", "host",
                         "scheduler_port", "protocol", "interface")


class DaskExecutor:
    """Tasks on a Dask cluster (local, SLURM or HTCondor)."""

    def __init__(self, config: ExecutorConfig) -> None:
        from distributed import Client, LocalCluster

        self.n_workers = config.workers
        self._client = None
        if config.kind == "dask-local":
            unknown = sorted(set(config.cluster) - set(LOCAL_CLUSTER_OPTIONS))
            if unknown:
                msg = (f"dask-local takes the cluster options {', '.join(LOCAL_CLUSTER_OPTIONS)}"
                       f", not {', '.join(unknown)} (batch-system options such as queue or "
                       "walltime need --executor slurm or htcondor)")
                raise ConfigError(msg)
            try:
                self._cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None,
                                             **config.cluster)
            except (TypeError, ValueError, RuntimeError, OSError) as exc:
                msg = f"the dask-local cluster did not start ({str(exc).splitlines()[0]})"
                raise ConfigError(msg) from None
            self._client = Client(self._cluster)
            return
        with _ErrorLog() as errors:
            self._cluster = jobqueue_cluster(config)
            try:
                self._cluster.scale(jobs=config.workers)  # type: ignore[call-arg]  # jobqueue's
                self._client = Client(self._cluster)
                _wait_for_first_worker(self._client, errors, config)
            except BaseException:
                self.close()
                raise

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        client = self._client
        if client is None:
            msg = "the executor is closed"
            raise RuntimeError(msg)
        futures = [client.submit(fn, item, pure=False) for item in items]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)

    def close(self) -> None:
        """Close the client and the cluster (its batch jobs are cancelled); a cluster that
        never started closes without an error."""
        import contextlib

        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        with contextlib.suppress(Exception, AssertionError):
            self._cluster.close()


class _ErrorLog:
    """Collects the error log records of a block (dask-jobqueue logs a rejected submission
    instead of raising it)."""

    LOGGERS = ("", "tornado", "tornado.application", "asyncio", "distributed",
               "distributed.deploy", "distributed.deploy.spec", "dask_jobqueue")

    def __enter__(self) -> list[str]:
        import logging

        self.messages: list[str] = []
        messages = self.messages

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    text += f" {record.exc_info[1]}"
                messages.append(text)

        self.handler = Handler(level=logging.ERROR)
        # the collected errors become one clear message: keep their tracebacks off the terminal
        self.saved = {}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self.saved[name] = (logger.handlers[:], logger.propagate)
            logger.handlers[:] = [self.handler]
            logger.propagate = False
        return self.messages

    def __exit__(self, *exc: object) -> None:
        import logging

        for name, (handlers, propagate) in self.saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate


def _submission_error(text: str) -> str:
    """The scheduler's own error lines out of a logged submission failure."""
    import re

    text = text.replace("\\n", "\n")
    lines = re.findall(r"(?:sbatch|condor_submit|qsub)[^\n]*error[^\n]*", text)
    found = "; ".join(dict.fromkeys(line.strip() for line in lines))
    return found or " ".join(text.split())[:300]


def _wait_for_first_worker(client: Any, errors: list[str], config: ExecutorConfig) -> None:
    """Return when a worker has joined; a clear error at the first logged submission error
    or after ``config.start_timeout_seconds``."""
    import time

    deadline = time.monotonic() + config.start_timeout_seconds
    while time.monotonic() < deadline:
        if client.scheduler_info(n_workers=-1).get("workers"):
            return
        failures = [m for m in errors if "sbatch" in m or "condor_submit" in m
                    or "submission" in m.lower() or "Command exited" in m]
        if failures:
            msg = (f"the {config.kind} scheduler rejected the worker job: "
                   f"{_submission_error(failures[0])} (cluster options: "
                   f"{config.cluster or 'defaults'})")
            raise ConfigError(msg)
        time.sleep(0.25)
    msg = (f"no {config.kind} worker started within {config.start_timeout_seconds:g} s "
           f"(cluster options: {config.cluster or 'defaults'}); check the queue with squeue, "
           "or raise start_timeout_seconds")
    raise ConfigError(msg)


def jobqueue_cluster(config: ExecutorConfig) -> Any:
    """A dask-jobqueue SLURM or HTCondor cluster (not yet scaled) from ``config.cluster``.

    One single-threaded worker per job (``cores=1``, ``memory="4GB"`` unless overridden).
    """
    import dask_jobqueue

    classes = {"slurm": dask_jobqueue.SLURMCluster, "htcondor": dask_jobqueue.HTCondorCluster}
    if config.kind not in classes:
        msg = f"executor kind '{config.kind}' is not a batch system (slurm or htcondor)"
        raise ConfigError(msg)
    options = {"cores": 1, "memory": "4GB", **config.cluster}
    try:
        return classes[config.kind](**options)
    except (TypeError, ValueError) as exc:
        msg = f"invalid {config.kind} cluster option: {str(exc).splitlines()[0]}"
        raise ConfigError(msg) from None


def make_executor(config: ExecutorConfig | None = None) -> Executor:
    """Build the executor described by ``config`` (default: one local worker, in process)."""
    config = config or ExecutorConfig(kind="serial")
    if config.kind == "serial" or (config.kind == "local" and config.workers == 1):
        return SerialExecutor()
    if config.kind == "local":
        return ProcessExecutor(config.workers)
    if config.kind in ("dask-local", "slurm", "htcondor"):
        return DaskExecutor(config)
    msg = f"unknown executor kind '{config.kind}'"
    raise ConfigError(msg)
