"""Assignment data: generation, matching, HDF5 layouts (ours and SPANet's) and their errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset, match_partons
from aihep.errors import InputError
from aihep.io.assignment import (
    PARTONS,
    JetEvents,
    read_events,
    read_jet_events,
    read_spanet,
    write_events,
    write_spanet,
)


def toy_events(n: int = 20, jets: int = 8, seed: int = 0) -> JetEvents:
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, jets), bool)
    n_jets = rng.integers(6, jets + 1, n)
    for i, k in enumerate(n_jets):
        mask[i, :k] = True
    cols = {"pt": rng.uniform(25, 200, (n, jets)), "eta": rng.uniform(-2.5, 2.5, (n, jets)),
            "phi": rng.uniform(-np.pi, np.pi, (n, jets)), "mass": rng.uniform(1, 20, (n, jets)),
            "btag": (rng.random((n, jets)) < 0.3).astype(float)}
    cols = {k: np.where(mask, v, 0.0).astype(np.float32) for k, v in cols.items()}
    targets = np.stack([rng.permutation(6) for _ in range(n)])
    targets[rng.random((n, 6)) < 0.2] = -1
    return JetEvents(**cols, mask=mask, targets=targets,
                     partons=rng.normal(size=(n, 6, 4)).astype(np.float32))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("ttbar")
    config = AssignmentDataConfig(n_events=40, events_per_chunk=150, seed=3)
    return config, out, build_assignment_dataset(config, out)


def test_generated_events_pass_the_selection_and_match_uniquely(generated):
    result = generated[2]
    events = result.read()
    assert len(events) == 40 == result.n_events
    assert (events.n_jets >= 6).all() and (events.btag.sum(1) >= 2).all()
    assert (events.pt[events.mask] > 25).all() and (np.abs(events.eta[events.mask]) < 2.5).all()
    for row in events.targets:
        used = row[row >= 0]
        assert len(set(used)) == len(used)
    # b partons are b-tagged far more often than light quarks (70% vs 1-10%)
    rows = np.repeat(np.arange(len(events)), 2)
    b = events.targets[:, [0, 3]].ravel()
    q = events.targets[:, [1, 2, 4, 5]].ravel()
    rows_q = np.repeat(np.arange(len(events)), 4)
    assert events.btag[rows[b >= 0], b[b >= 0]].mean() > events.btag[
        rows_q[q >= 0], q[q >= 0]].mean() + 0.3
    assert 0 < result.fully_matched < 1
    # the efficiency counts the selected events of every generated chunk, kept or not
    assert result.selected >= result.n_events
    summary = result.to_dict()
    assert summary["selection_efficiency"] == result.selected / result.generated
    assert 0.05 < summary["selection_efficiency"] < 0.6
    # the SPANet file holds the same events
    spanet = read_spanet(result.spanet_file)
    np.testing.assert_array_equal(spanet.targets, events.targets)
    np.testing.assert_allclose(spanet.pt, events.pt)


def test_a_rerun_resumes_and_is_identical(generated):
    config, out, result = generated
    again = build_assignment_dataset(config, out)
    np.testing.assert_array_equal(again.read().targets, result.read().targets)
    assert again.generated == result.generated


def test_matching_is_unique_closest_first_and_within_radius():
    jets_eta, jets_phi = np.array([0.0, 0.1, 2.0]), np.array([0.0, 0.0, 0.0])
    partons_eta = np.array([0.05, 0.0, np.nan, 1.0])
    partons_phi = np.array([0.0, 0.0, np.nan, 0.0])
    # parton 1 takes jet 0 (distance 0) before parton 0 (0.05); parton 0 then gets jet 1
    assert match_partons(partons_eta, partons_phi, jets_eta, jets_phi, 0.4).tolist() == [
        1, 0, -1, -1]


@pytest.mark.parametrize("layout", ["aihep", "spanet"])
def test_round_trip(tmp_path, layout):
    events = toy_events()
    path = tmp_path / "e.h5"
    (write_events if layout == "aihep" else write_spanet)(path, events)
    back = read_jet_events(path)
    for f in ("pt", "eta", "phi", "mass", "btag", "mask", "targets"):
        np.testing.assert_allclose(getattr(back, f), getattr(events, f))
    if layout == "spanet":
        with h5py.File(path) as f:
            assert set(f["INPUTS/Source"]) == {"MASK", "pt", "eta", "phi", "mass", "btag"}
            assert set(f["TARGETS"]) == {"t1", "t2"} and set(f["TARGETS/t1"]) == {
                "b", "q1", "q2"}


def _spanet_file(tmp_path, edit):
    path = tmp_path / "s.h5"
    write_spanet(path, toy_events())
    with h5py.File(path, "a") as f:
        edit(f)
    return path


@pytest.mark.parametrize(("edit", "field"), [
    (lambda f: f.__delitem__("TARGETS/t2/q1"), "TARGETS/t2/q1"),
    (lambda f: (f.__delitem__("INPUTS/Source/pt"),
                f.create_dataset("INPUTS/Source/pt", data=np.zeros((20, 5)))),
     "INPUTS/Source/pt"),
    (lambda f: f["INPUTS/Source/eta"].__setitem__((0, 0), np.nan), "INPUTS/Source/eta"),
    (lambda f: f["TARGETS/t1/b"].__setitem__(0, 15), "TARGETS/t1/b"),
])
def test_bad_spanet_files_name_the_field(tmp_path, edit, field):
    path = _spanet_file(tmp_path, edit)
    with pytest.raises(InputError) as error:
        read_spanet(path)
    assert str(path) in str(error.value) and field in str(error.value)


def _write_foreign(path, events, variant):
    """SPANet files as other people write them (the layouts of SPANet's own examples)."""
    with h5py.File(path, "w") as f:
        if variant == "spanet1":
            jets, mask_name, targets = f.create_group("source"), "mask", f
        else:
            jets, mask_name = f.create_group("INPUTS/Momenta"), "MASK"
            f.create_dataset("INPUTS/Met/met", data=np.ones(len(events)))  # a global input
            targets = f.create_group("TARGETS")
        jets[mask_name] = events.mask.astype(np.int8)
        for name in ("pt", "eta", "mass", "btag"):
            jets[name] = np.where(events.mask, getattr(events, name), np.nan)  # NaN padding
        jets["sin_phi"], jets["cos_phi"] = np.sin(events.phi), np.cos(events.phi)
        jets["qtag"] = np.zeros_like(events.pt)  # an extra feature
        for k, name in enumerate(PARTONS):
            targets[name] = np.where(events.targets[:, k] < 0, -1, events.targets[:, k])
        if variant == "spanet1":
            for top in ("t1", "t2"):
                f[f"{top}/mask"] = np.ones(len(events), bool)


@pytest.mark.parametrize("variant", ["other-group-sin-cos-phi", "spanet1"])
def test_spanet_files_made_elsewhere_are_read(tmp_path, variant):
    events = toy_events()
    path = tmp_path / "foreign.h5"
    _write_foreign(path, events, variant)
    back = read_jet_events(path)
    for f in ("pt", "eta", "mass", "btag", "mask", "targets"):
        np.testing.assert_allclose(getattr(back, f), getattr(events, f), atol=1e-5)
    np.testing.assert_allclose(np.where(events.mask, back.phi - events.phi, 0), 0, atol=1e-5)
    assert np.all(back.pt[~events.mask] == 0)


def test_spanet_errors_name_the_groups_found(tmp_path):
    events = toy_events()
    path = tmp_path / "semileptonic.h5"
    write_spanet(path, events)
    with h5py.File(path, "a") as f:
        f.move("TARGETS/t1", "TARGETS/ht")
    with pytest.raises(InputError, match=r"TARGETS/t1/b.*ht/\{b, q1, q2\}"):
        read_spanet(path)
    two = tmp_path / "two.h5"
    with h5py.File(two, "w") as f:
        for group in ("Jets", "FatJets"):
            f[f"INPUTS/{group}/MASK"] = events.mask
            for name in ("pt", "eta", "phi", "mass", "btag"):
                f[f"INPUTS/{group}/{name}"] = getattr(events, name)
    with pytest.raises(InputError, match=r"INPUTS.*FatJets"):
        read_spanet(two)


@pytest.mark.parametrize("layout", ["aihep", "spanet"])
def test_a_file_without_events_is_refused(tmp_path, layout):
    path = (write_events if layout == "aihep" else write_spanet)(
        tmp_path / "empty.h5", toy_events().select(np.arange(0)))
    with pytest.raises(InputError, match="at least one event"):
        read_jet_events(path, require_targets=False)


def test_target_on_a_padded_jet_and_missing_file(tmp_path):
    events = toy_events()
    bad = events.targets.copy()
    row = int(np.argmin(events.n_jets))
    bad[row, 0] = events.max_jets - 1 if events.n_jets[row] < events.max_jets else -1
    if bad[row, 0] >= 0:
        path = write_events(tmp_path / "bad.h5", JetEvents(
            events.pt, events.eta, events.phi, events.mass, events.btag, events.mask, bad))
        with pytest.raises(InputError, match="unmasked jet"):
            read_events(path)
    with pytest.raises(InputError, match="file"):
        read_jet_events(tmp_path / "missing.h5")
    assert len(PARTONS) == 6


def test_semileptonic_and_tth_events_carry_their_objects_and_truth():
    from aihep.assign.data import chunk_events

    semi, _ = chunk_events(AssignmentDataConfig(process="ttbar-semileptonic"), 0, 250)
    assert len(semi) > 5 and np.isfinite(semi.lepton[:, 0]).all()
    assert (semi.lepton[:, 0] > 25).all() and set(np.abs(semi.lepton[:, 3])) <= {11, 13}
    assert (semi.targets[:, 1:3] == -1).all()  # lepton and neutrino are not jets
    # the neutrino (t1/q2) carries the missing momentum: same direction within ~1 rad often
    nu_phi = np.arctan2(semi.partons[:, 2, 1], semi.partons[:, 2, 0])
    close = np.abs((nu_phi - semi.met[:, 1] + np.pi) % (2 * np.pi) - np.pi) < 1.0
    assert close.mean() > 0.6
    assert np.isfinite(semi.tops).all()
    tth, _ = chunk_events(AssignmentDataConfig(process="tth-bb"), 0, 60)
    assert (tth.higgs_targets >= 0).mean() > 0.5
    jets = np.concatenate([tth.targets, tth.higgs_targets], axis=1)
    for row in jets:
        used = row[row >= 0]
        assert len(set(used)) == len(used)  # tops and Higgs share no jet
