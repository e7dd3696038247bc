"""Tagging datasets from Pythia: labels from truth matching, impact parameters, flattening."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from aihep.io.jets import JETCLASS_CLASSES
from aihep.tagging.generate import TagDatasetConfig, build_tag_dataset, chunk_jets

SMALL = TagDatasetConfig(events_per_chunk=100, jets_per_class=15, seed=3)


@pytest.fixture(scope="module")
def chunks():
    return {s: chunk_jets(SMALL, s, 0)["columns"] for s in ("QCD", "Hbb", "Tbl")}


def test_jets_are_labelled_by_their_sample_and_in_the_window(chunks):
    for sample, cols in chunks.items():
        assert len(cols["label"]) > 3
        assert set(cols["label"].tolist()) == {JETCLASS_CLASSES.index(sample)}
        assert np.all((cols["jet_pt"] >= 500) & (cols["jet_pt"] < 1000))
        assert np.all(np.abs(cols["jet_eta"]) < 2.0)
        assert ak.all(ak.num(cols["part_px"]) <= 128)
    # a leptonic top jet holds its electron or muon
    tbl = chunks["Tbl"]
    assert ak.all(ak.sum(tbl["part_isElectron"] + tbl["part_isMuon"], axis=1) >= 1)
    # H -> b b jets are heavy: soft-drop mass near 125 GeV on average
    assert 90 < np.median(chunks["Hbb"]["jet_sdmass"]) < 140


def test_b_jet_tracks_have_larger_impact_parameters(chunks):
    def mean_abs_d0(cols):
        charged = ak.flatten(cols["part_charge"]) != 0
        return float(np.abs(ak.to_numpy(ak.flatten(cols["part_d0val"]))[charged]).mean())

    assert mean_abs_d0(chunks["Hbb"]) > 1.5 * mean_abs_d0(chunks["QCD"])
    neutral = ak.flatten(chunks["QCD"]["part_charge"]) == 0
    assert np.all(ak.to_numpy(ak.flatten(chunks["QCD"]["part_d0err"]))[neutral] == 0)


def test_top_dataset_is_flattened_and_resumes(tmp_path):
    config = TagDatasetConfig(kind="top", events_per_chunk=100, jets_per_class=20, seed=4)
    jets = build_tag_dataset(config, tmp_path / "top")
    counts = np.bincount(jets.labels, minlength=2)
    assert counts[0] == counts[1] >= 20 * 0.8
    pt = ak.to_numpy(jets.table["jet_pt"])
    assert np.all((pt >= 550) & (pt < 650))
    # the same pT bins per class: identical per-bin counts after flattening
    bins = np.clip(((pt - 550) / 10).astype(int), 0, 9)
    per_class = [np.bincount(bins[jets.labels == c], minlength=10) for c in (0, 1)]
    np.testing.assert_array_equal(per_class[0], per_class[1])
    chunk_files = sorted((tmp_path / "top" / "chunks").glob("*.parquet"))
    mtimes = [p.stat().st_mtime for p in chunk_files]
    again = build_tag_dataset(config, tmp_path / "top")
    assert [p.stat().st_mtime for p in chunk_files] == mtimes  # nothing regenerated
    np.testing.assert_array_equal(again.labels, jets.labels)
    assert (tmp_path / "top" / "manifest.json").is_file()


def test_generated_jets_give_every_feature_set(chunks):
    from aihep.io.jets import JetSet
    from aihep.tagging.features import FEATURE_SETS, particle_inputs

    jets = JetSet(ak.zip(chunks["Hbb"], depth_limit=1), JETCLASS_CLASSES, "chunk")
    for name, names in FEATURE_SETS.items():
        inputs = particle_inputs(jets, name, 64)
        assert inputs.features.shape == (len(jets), 64, len(names))
        assert np.isfinite(inputs.features).all()
    d0 = inputs.features[..., list(names).index("part_d0val")][inputs.mask]
    assert np.all(np.abs(d0) <= 1.0)  # tanh


def test_flavour_jets_are_labelled_by_their_heaviest_hadron():
    config = TagDatasetConfig(kind="flavour", events_per_chunk=100, seed=5)
    cols = chunk_jets(config, "Zprime", 0)["columns"]
    labels = cols["label"]
    counts = np.bincount(labels, minlength=3)  # light, c, b
    assert counts.min() > 5 and counts[0] > counts[2]
    assert np.all((cols["jet_pt"] >= 200) & (cols["jet_pt"] < 500))

    def displaced(rows):
        d0 = ak.flatten(cols["part_d0val"][rows])
        err = ak.flatten(cols["part_d0err"][rows])
        charged = err > 0
        return float(np.mean(ak.to_numpy(d0[charged] / err[charged]) > 3))

    assert displaced(labels == 2) > 3 * displaced(labels == 0)


def test_ee_origin_jets_carry_the_quark_charge_and_kaons_mark_strange():
    config = TagDatasetConfig(kind="ee-origin", events_per_chunk=100, seed=6)
    classes = config.classes()
    s_jets = chunk_jets(config, "Hss", 0)["columns"]
    u_jets = chunk_jets(config, "Huu", 0)["columns"]
    s_counts = np.bincount(s_jets["label"], minlength=11)
    assert s_counts[classes.index("s")] > 30 and s_counts[classes.index("sbar")] > 30
    assert s_counts.sum() == s_counts[classes.index("s")] + s_counts[classes.index("sbar")]

    def leading_kaon_fraction(cols):  # particles are pT-ordered
        charged = cols["part_isChargedHadron"] > 0
        leading = ak.firsts(cols["part_isKaon"][charged])
        return float(ak.mean(ak.fill_none(leading, 0.0)))

    assert leading_kaon_fraction(s_jets) > 1.5 * leading_kaon_fraction(u_jets)


def test_unknown_kind_writes_nothing(tmp_path):
    from aihep.errors import AihepError

    with pytest.raises(AihepError, match="unknown tagging dataset 'quarks'"):
        build_tag_dataset(TagDatasetConfig(kind="quarks"), tmp_path / "t")
    assert not (tmp_path / "t").exists()
