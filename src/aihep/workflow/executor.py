"""Executors: run independent tasks serially, on local processes, or through Dask.

Dask is the scale-out engine: ``dask-local`` starts a ``distributed.LocalCluster``;
``slurm`` and ``htcondor`` start ``dask_jobqueue.SLURMCluster`` / ``HTCondorCluster`` with the
options given in ``ExecutorConfig.cluster`` (queue, cores, memory, walltime, ...: passed to the
cluster class unchanged) and scale it to ``workers`` jobs. Tasks must be picklable top-level
functions; they should write their own outputs (shared file system) and return small results.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import ConfigError

ExecutorKind = Literal["serial", "local", "dask-local", "slurm", "htcondor"]


class ExecutorConfig(BaseModel):
    """Which engine runs the tasks and with how many workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ExecutorKind = "local"
    workers: int = Field(1, ge=1)
    cluster: dict[str, Any] = Field(default_factory=dict,
                                    description="options for the dask-jobqueue cluster class")


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
    """Local worker processes (``spawn`` start method: no state leaks from the parent)."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self._pool = cf.ProcessPoolExecutor(
            max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"))

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        futures = [self._pool.submit(fn, item) for item in items]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Tasks on a Dask cluster (local, SLURM or HTCondor)."""

    def __init__(self, config: ExecutorConfig) -> None:
        from distributed import Client, LocalCluster

        self.n_workers = config.workers
        if config.kind == "dask-local":
            self._cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1,
                                         processes=True, dashboard_address=None,
                                         **config.cluster)
        else:
            self._cluster = jobqueue_cluster(config)
            self._cluster.scale(jobs=config.workers)
        self._client = Client(self._cluster)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        futures = [self._client.submit(fn, item, pure=False) for item in items]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        self._client.close()
        self._cluster.close()


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
