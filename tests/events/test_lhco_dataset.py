"""The LHCO-style dataset builder: files, layouts, labels, manifest, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aihep.events.config import DetectorConfig
from aihep.events.lhco import LHCOConfig, build_lhco_dataset, read_feature_table
from aihep.io.lhco import read_feature_csv
from aihep.report.lhco import write_lhco_report
from aihep.workflow.manifest import sha256_file


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = LHCOConfig(n_background=120, n_signal=40, n_reference=60, seed=4, chunk_size=150,
                        detector=DetectorConfig(kind="truth"))
    return build_lhco_dataset(config, tmp_path_factory.mktemp("lhco"),
                              reporter=write_lhco_report)


def test_counts_and_labels(dataset):
    data = read_feature_table(dataset.data_path)
    assert len(data["mjj"]) == 160
    assert int(data["label"].sum()) == 40
    assert len(read_feature_table(dataset.reference_path)["mjj"]) == 60
    assert np.all(data["mj1"] <= data["mj1"] + data["delta_mj"])
    assert np.all(data["delta_mj"] >= 0)
    # shuffled: signal not all at the end
    assert data["label"][-40:].sum() < 40


def test_csv_layout_matches_parquet(dataset):
    feats, labels = read_feature_csv(dataset.directory / "data.csv",
                                     dataset.directory / "data_labels.csv")
    data = read_feature_table(dataset.data_path)
    np.testing.assert_allclose(feats["mjj"], data["mjj"])
    np.testing.assert_array_equal(labels, data["label"])


def test_manifest_and_report(dataset):
    manifest = json.loads((dataset.directory / "manifest.json").read_text())
    assert manifest["kind"] == "aihep.lhco"
    assert {i["role"] for i in manifest["inputs"]} == {"background", "signal", "reference"}
    for entry in manifest["outputs"]:
        assert sha256_file(dataset.directory / entry["path"]) == entry["sha256"]
    html = (dataset.directory / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 6


def test_signal_spec_conflict():
    with pytest.raises(ValueError, match="either n_signal or s_over_b"):
        LHCOConfig(n_signal=10, s_over_b=0.1)
    assert LHCOConfig(n_background=1000, s_over_b=0.05).signal_count == 50
    assert LHCOConfig(n_background=1000).signal_count == 10


def test_impossible_masses_are_refused_before_any_event(tmp_path):
    """--m-x 4000 with a 3.5 TeV W' was refused only after the whole background was made."""
    from typer.testing import CliRunner

    from aihep.cli import app

    result = CliRunner().invoke(app, ["dataset", "lhco", "--out", str(tmp_path / "d"),
                                      "--m-x", "4000", "--background", "10"])
    assert result.exit_code == 2 and "m_wprime_gev" in result.stderr
    assert not (tmp_path / "d").exists()
    generated = CliRunner().invoke(app, ["generate", "wprime-xy", "--param", "m_x_gev=4000",
                                         "--out", str(tmp_path / "g"), "-n", "5"])
    assert generated.exit_code == 2 and "m_x_gev + m_y_gev < m_wprime_gev" in generated.stderr
    assert not (tmp_path / "g").exists()


def test_no_reference_lists_no_reference_file():
    from aihep.events.lhco import LHCODataset

    dataset = LHCODataset(Path("d"), 10, 1, 0, {}, None)
    assert dataset.reference_path is None and dataset.to_dict()["reference"] is None
    assert LHCODataset(Path("d"), 10, 1, 5, {}, None).reference_path == Path(
        "d/reference.parquet")
