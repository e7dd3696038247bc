"""The one chunk engine (aihep.workflow.chunks) behind the event factory, the tagging
datasets and the reco simulation: same content as before it, same content as building the
chunks by hand, resume and key checks."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json

import awkward as ak
import numpy as np
import pytest

from aihep.errors import ConfigError
from aihep.events import GenerationConfig, SelectionConfig, generate
from aihep.events.config import DetectorConfig
from aihep.io.eventstore import read_events
from aihep.reco.geometry import LayoutConfig
from aihep.reco.simulate import SimConfig, simulate_dataset
from aihep.tagging.generate import TagDatasetConfig, build_tag_dataset
from aihep.workflow.chunks import ChunkStore, chunk_path, run_waves
from aihep.workflow.executor import SerialExecutor

FIXED = GenerationConfig(process="qcd-dijet", n_events=50, seed=5, chunk_size=20,
                         detector=DetectorConfig(kind="truth"),
                         settings=["PartonLevel:MPI = off"])
WAVES = FIXED.model_copy(update={"n_events": 30, "selection": SelectionConfig(
    min_jets=2, leading_jet_pt_min_gev=60.0)})
TAG = TagDatasetConfig(kind="top", events_per_chunk=100, jets_per_class=10, seed=4)
SIM = SimConfig(layout=LayoutConfig(n_strings=19, doms_per_string=10), energy_min_tev=10.0)

# Content digests of these datasets made with the three separate engines that the chunk
# engine replaced (commit 2fa819e; the Parquet files were byte-identical too), and the
# versions they were made with: other versions may legitimately change the numbers. So may
# the CPU: numpy's float64 exp, log, sin... take other code paths (SVML) where it finds
# AVX-512, so the digests are per SIMD level numpy found. The X86_V3 (AVX2, no AVX-512) ones
# were made on such a machine by the old engines at 2fa819e, as the X86_V4 ones had been.
BEFORE = {"X86_V4": {"events_fixed": "4238717366170c0c", "events_waves": "18fd2b2e2da69a98",
                     "tag": "90613da87b5e00be", "reco": "51d856ba92421c63"},
          "X86_V3": {"events_fixed": "5310cd6ca37102f6", "events_waves": "4a5752745d80e15d",
                     "tag": "7b52c36054922f83", "reco": "69df3018dc04d7ca"}}
BEFORE_VERSIONS = {"numpy": "2.4.6", "pythia8mc": "8.317.2", "fastjet": "3.5.2.0",
                   "awkward": "2.14.0"}


def _simd_level() -> str:
    """The highest x86-64 level numpy dispatches to here (X86_V4: AVX-512), or 'other'."""
    from numpy._core._multiarray_umath import __cpu_features__ as found

    return next((level for level in ("X86_V4", "X86_V3") if found.get(level)), "other")


def _digest(array: ak.Array) -> str:
    return hashlib.sha256(json.dumps(ak.to_list(array)).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    generate(FIXED, root / "fixed")
    generate(WAVES, root / "waves")
    jets = build_tag_dataset(TAG, root / "tag", workers=2)
    reco = simulate_dataset(SIM, 5, root / "reco", seed=2, events_per_chunk=2, workers=2)
    return {"root": root, "events_fixed": read_events(root / "fixed"),
            "events_waves": read_events(root / "waves"), "tag": jets.table,
            "reco": ak.from_parquet(reco)}


def test_the_engine_gives_the_content_of_the_engines_it_replaced(made):
    versions = {p: importlib.metadata.version(p) for p in BEFORE_VERSIONS}
    if versions != BEFORE_VERSIONS:
        pytest.skip(f"digests recorded with {BEFORE_VERSIONS}, installed {versions}")
    level = _simd_level()
    if level not in BEFORE:
        pytest.skip(f"digests recorded for numpy SIMD levels {sorted(BEFORE)}, not {level}")
    assert {name: _digest(made[name]) for name in BEFORE[level]} == BEFORE[level]


def test_the_engine_gives_what_building_the_chunks_by_hand_gives(made):
    from aihep.events.factory import build_events
    from aihep.reco.geometry import load_geometry
    from aihep.reco.simulate import simulate
    from aihep.workflow.seeds import derive_seed

    # events: chunks 0, 1 of 20 and the last of 10, concatenated
    by_hand = ak.concatenate([build_events(FIXED, i, n)[0] for i, n in
                              enumerate((20, 20, 10))])
    assert ak.array_equal(made["events_fixed"], by_hand)
    # reco: chunks of 2, 2, 1 events, each seeded from (seed, "reco", index), on the
    # geometry as written (the CSV's rounding is part of the dataset)
    geometry = load_geometry(made["root"] / "reco" / "geometry.csv")
    by_hand = ak.concatenate([simulate(SIM, geometry, n, derive_seed(2, "reco", i))[0]
                              for i, n in enumerate((2, 2, 1))])
    assert ak.to_list(made["reco"]) == ak.to_list(by_hand)


def _make(job):
    values = np.random.default_rng([job.seed, job.index]).random(job.size)
    return (lambda path: ak.to_parquet(ak.Array({"x": values}), path)), {"n": job.size}


def test_resume_key_check_and_damaged_chunks(tmp_path):
    store = ChunkStore(tmp_path / "c", key="config A")
    jobs = [store.job("s", i, 3, 7, "{}") for i in range(4)]
    calls = []

    def plan(done):
        wave = [j for j in jobs if ("s", j.index) not in done]
        calls.append(len(wave))
        return wave

    done = run_waves(store, SerialExecutor(), _make, plan)
    assert sorted(done) == [("s", i) for i in range(4)] and calls == [4, 0]
    first = ak.from_parquet(chunk_path(store.directory, "s", 2)).x.to_list()
    # a lost chunk and a damaged one are made again, identical; the others are kept
    chunk_path(store.directory, "s", 1).unlink()
    damaged = chunk_path(store.directory, "s", 2)
    damaged.write_bytes(damaged.read_bytes()[:50])
    assert sorted(store.completed()) == [("s", 0), ("s", 3)]
    calls.clear()
    run_waves(store, SerialExecutor(), _make, plan)
    assert calls == [2, 0]
    assert ak.from_parquet(damaged).x.to_list() == first
    # chunks of another configuration are refused, nothing written
    with pytest.raises(ConfigError, match="another configuration"):
        ChunkStore(tmp_path / "c", key="config B")
    assert (tmp_path / "c" / "key.json").read_text() == "config A"
