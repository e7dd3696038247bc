"""Shared fixtures: small generated samples, made once per test session."""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two pytest workers share the two cores: one thread each for OpenMP (scikit-learn's
    # boosted trees), BLAS and torch; set before those libraries start their thread pools
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import torch

    torch.set_num_threads(1)

from pathlib import Path

import pytest

from aihep.events import GenerationConfig, SelectionConfig, generate
from aihep.events.config import JetConfig

LHCO_TRIGGER = SelectionConfig(min_jets=2, leading_jet_pt_min_gev=1200.0)


def _generated_once(config: GenerationConfig, name: str,
                    tmp_path_factory: pytest.TempPathFactory):
    """Events generated once per test run, also with several pytest-xdist workers: the first
    worker generates them under a lock in the directory the workers share, the others then
    find the finished chunks and only read them (~25 s of Pythia per worker saved)."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory above the workers' own
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return generate(config, root / f"shared-{name}").read()


@pytest.fixture(scope="session")
def wprime_events(tmp_path_factory: pytest.TempPathFactory):
    """400 W'(3500) -> X(500) Y(100) events passing the LHCO trigger (simple detector)."""
    config = GenerationConfig(process="wprime-xy", n_events=400, seed=11, chunk_size=250,
                              selection=LHCO_TRIGGER, jets=JetConfig(max_jets=2))
    return _generated_once(config, "wprime", tmp_path_factory)


@pytest.fixture(scope="session")
def qcd_events(tmp_path_factory: pytest.TempPathFactory):
    """600 QCD dijet events passing the LHCO trigger (simple detector)."""
    config = GenerationConfig(process="qcd-dijet", n_events=600, seed=12, chunk_size=500,
                              selection=LHCO_TRIGGER, jets=JetConfig(max_jets=2))
    return _generated_once(config, "qcd", tmp_path_factory)


@pytest.fixture()
def small_config() -> GenerationConfig:
    """A quick configuration: truth-level QCD, 120 events in chunks of 40."""
    from aihep.events.config import DetectorConfig

    return GenerationConfig(process="qcd-dijet", n_events=120, seed=5, chunk_size=40,
                            detector=DetectorConfig(kind="truth"),
                            settings=["PartonLevel:MPI = off"])


def read_dir(path: Path):
    from aihep.io.eventstore import read_events

    return read_events(path)


def _one_line_error(result, out: Path | None = None) -> str:
    """The error line of a CLI result that failed on bad input as aihep promises (exit 2,
    exactly one stderr line, nothing written at ``out``); the test asserts what it says."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.stderr
    assert out is None or not Path(out).exists(), f"{out} was written"
    return lines[0]


@pytest.fixture()
def one_line_error():
    """:func:`_one_line_error`, for tests of bad input: ``assert "field" in
    one_line_error(result, out)``."""
    return _one_line_error


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """The static checks first: their one mypy test takes 70-90 s on 2 cores, and last in the
    collection order (tests/test_static.py) pytest-xdist handed it to one worker when the
    other had no file left to take."""
    items.sort(key=lambda item: item.path.name != "test_static.py")
