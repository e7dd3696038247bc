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


def test_slurm_and_htcondor_job_scripts_follow_config():
    from aihep.workflow.executor import jobqueue_cluster

    slurm = jobqueue_cluster(ExecutorConfig(kind="slurm", workers=3, cluster={
        "queue": "short", "memory": "2GB", "walltime": "01:00:00"}))
    try:
        script = slurm.job_script()
        assert "#SBATCH -p short" in script
        assert "#SBATCH -t 01:00:00" in script
        assert "--nthreads 1" in script
    finally:
        slurm.close()
    condor = jobqueue_cluster(ExecutorConfig(kind="htcondor", cluster={"disk": "1GB"}))
    try:
        assert "RequestMemory" in condor.job_script()
    finally:
        condor.close()


def test_bad_cluster_option_is_config_error():
    import pytest

    from aihep.errors import ConfigError
    from aihep.workflow.executor import jobqueue_cluster

    with pytest.raises(ConfigError, match="invalid slurm cluster option"):
        jobqueue_cluster(ExecutorConfig(kind="slurm", cluster={"no_such_option": 1}))


def test_cluster_options_on_the_wrong_executor_are_config_errors():
    """A jobqueue option on dask-local died with a traceback ("Nanny failed to start"); on
    the local executor it was silently ignored."""
    import pytest
    from pydantic import ValidationError

    from aihep.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dask-local takes the cluster options .* not queue"):
        make_executor(ExecutorConfig(kind="dask-local", cluster={"queue": "main"}))
    for kind in ("local", "serial"):
        with pytest.raises(ValidationError, match="apply to the slurm, htcondor or dask-local"):
            ExecutorConfig(kind=kind, cluster={"queue": "main"})
