"""Output directories holding another command's results are refused unless forced."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aihep.cli import app
from aihep.errors import OutputError
from aihep.workflow.manifest import claim_output_dir


def _dataset(directory, kind="aihep.events"):
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({"kind": kind}))
    (directory / "report.html").write_text("<html>mine</html>")
    return directory


def test_claim_rules(tmp_path):
    taken = _dataset(tmp_path / "d")
    with pytest.raises(OutputError, match=r"manifest kind 'aihep\.events', this is"):
        claim_output_dir(taken, "aihep.hunt")
    assert claim_output_dir(taken, "aihep.hunt", force=True) == taken
    assert claim_output_dir(taken, "aihep.events") == taken  # its own kind: re-run
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="holds no aihep results"):
        claim_output_dir(loose, "aihep.hunt")
    assert claim_output_dir(loose, "aihep.tag.train", strict=False) == loose  # resumable
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        claim_output_dir(tmp_path / "f", "aihep.hunt", force=True)


@pytest.mark.parametrize("args", [
    ["generate", "qcd-dijet", "-n", "5", "--out"],
    ["agent", "run", "DATA", "--out"],
    ["reco", "simulate", "-n", "2", "--out"],
])
def test_commands_refuse_another_commands_directory(tmp_path, args):
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"mjj": [3000.0]}), data)
    taken = _dataset(tmp_path / "d", kind="aihep.hunt")
    before = {p.name: p.read_bytes() for p in taken.iterdir()}
    args = [str(data) if a == "DATA" else a for a in args]
    result = CliRunner().invoke(app, [*args, str(taken)])
    assert result.exit_code == 2, result.output
    assert "another command" in result.stderr and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in taken.iterdir()} == before
