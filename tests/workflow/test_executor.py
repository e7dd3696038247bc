"""Executors: Dask (LocalCluster) gives the same dataset as serial generation."""

from __future__ import annotations

import awkward as ak

from aihep.events import generate
from aihep.workflow.executor import ExecutorConfig, make_executor


def _square(x: int) -> int:
    return x * x


def test_local_process_executor_maps_all():
    engine = make_executor(ExecutorConfig(kind="local", workers=2))
    try:
        assert sorted(engine.map_unordered(_square, range(6))) == [0, 1, 4, 9, 16, 25]
    finally:
        engine.close()


def test_dask_local_cluster_reproduces_serial(small_config, tmp_path):
    serial = generate(small_config, tmp_path / "serial").read()
    dask = generate(small_config, tmp_path / "dask", ExecutorConfig(kind="dask-local",
                                                                     workers=2)).read()
    assert ak.array_equal(serial, dask)
