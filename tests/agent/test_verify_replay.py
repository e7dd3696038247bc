"""`aihep agent verify` and `aihep replay` against damaged, forged and re-spelled runs.

Each case here broke before: replay re-ran calls into the original run when the record spelled
paths differently, replayed forged calls without the policy, and verify trusted an edited
manifest, never re-hashed outputs, and crashed on damaged files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aihep.agent.policy import Policy
from aihep.agent.replay import replay
from aihep.agent.runner import MANIFEST, RECORD, ToolRunner, verify_run
from aihep.agent.tools import ToolRegistry, make_tool
from aihep.cli import app
from aihep.errors import ConfigError, OutputError
from aihep.workflow.manifest import sha256_file
from aihep.workflow.provenance import canonical_hash, read_entries


def count_lines(source: Path, out: Path) -> int:
    """Count the lines of a file and write the count to ``out``."""
    n = len(Path(source).read_text().splitlines())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(f"{n}\n")
    return n


def _registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.add(make_tool(count_lines, reads=("source",), writes=("out",), cpu_seconds=1))
    return registry


def _run(base: Path, run: str | Path, out: str | Path) -> Path:
    """A run directory with one recorded call writing ``out`` (spelled as given)."""
    inputs = base / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "a.txt").write_text("1\n2\n3\n")
    runner = ToolRunner(_registry(), Policy(read_paths=(inputs,), run_dir=Path(run)))
    assert runner.call("count_lines", {"source": str(inputs / "a.txt"), "out": str(out)},
                       "test").status == "ok"
    return base / run if not Path(run).is_absolute() else Path(run)


def _rechain(run: Path, entries: list[dict]) -> None:
    """What a forger who knows the format does: re-chain the record, update the manifest."""
    prev = "0" * 64
    for i, entry in enumerate(entries):
        entry["index"], entry["prev"] = i, prev
        entry["hash"] = prev = canonical_hash(entry)
    (run / RECORD).write_text("".join(json.dumps(e) + "\n" for e in entries))
    manifest = json.loads((run / MANIFEST).read_text())
    manifest.update(head=prev, length=len(entries))
    (run / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("spelling", ["relative-record", "absolute-record"])
def test_replay_never_writes_into_the_run_whatever_the_spelling(tmp_path, monkeypatch,
                                                                spelling):
    monkeypatch.chdir(tmp_path)
    if spelling == "relative-record":  # recorded relative, replayed by absolute name
        run = _run(tmp_path, "run", "run/n.txt")
        source = tmp_path / "run"
    else:  # recorded absolute, replayed by relative name
        run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
        source = Path("run")
    (run / "n.txt").write_text("original\n")  # a replay into the run would overwrite it
    steps = replay(source, "replayed", registry=_registry())
    assert [s.status for s in steps] == ["match"]  # compared with the recorded digest
    assert (run / "n.txt").read_text() == "original\n"
    assert (tmp_path / "replayed" / "n.txt").read_text() == "3\n"
    assert verify_run(tmp_path / "replayed").ok  # the replay keeps its own record


def test_replay_matches_and_refuses_a_forged_call_outside_its_directory(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    assert [s.status for s in replay(run, tmp_path / "r1", registry=_registry())] == ["match"]
    entries = read_entries(run / RECORD)
    forged = dict(entries[0], arguments={**entries[0]["arguments"],
                                         "out": str(tmp_path / "outside.txt")})
    _rechain(run, [entries[0], forged])
    steps = replay(run, tmp_path / "r2", registry=_registry())
    assert [s.status for s in steps] == ["match", "refused"]
    assert "outside run_dir" in steps[1].message
    assert not (tmp_path / "outside.txt").exists()


def test_replay_into_the_run_or_a_used_directory_is_refused(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    for target in (run, run / "sub", tmp_path):
        with pytest.raises(ConfigError, match="outside the run directory"):
            replay(run, target, registry=_registry())
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="not empty"):
        replay(run, used, registry=_registry())
    assert [s.status for s in replay(run, used, registry=_registry(), force=True)] == ["match"]


def test_verify_catches_an_edited_manifest_and_truncation(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    runner = ToolRunner(_registry(), Policy(read_paths=(tmp_path / "inputs",), run_dir=run))
    runner.call("count_lines", {"source": str(tmp_path / "inputs" / "a.txt"),
                                "out": str(run / "m.txt")}, "test")
    assert verify_run(run).ok and verify_run(run).outputs_checked == 2
    manifest = json.loads((run / MANIFEST).read_text())
    del manifest["head"], manifest["length"]
    (run / MANIFEST).write_text(json.dumps(manifest))
    lines = (run / RECORD).read_text().splitlines()
    (run / RECORD).write_text("\n".join(lines[:-1]) + "\n")
    result = verify_run(run)
    assert not result.ok and "edited manifest" in result.problem


def test_verify_rehashes_outputs_and_needs_an_external_head_against_rechaining(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    kept = verify_run(run).head  # the user keeps this outside the run
    (run / "n.txt").write_text("4\n")
    result = verify_run(run)
    assert not result.ok and "n.txt: changed since it was recorded" in result.problem
    (run / "n.txt").unlink()
    assert "recorded output is missing" in verify_run(run).problem
    # the forger rewrites the output, its digest, the chain and the manifest: only the
    # external head tells
    (run / "n.txt").write_text("4\n")
    entries = read_entries(run / RECORD)
    entries[0]["outputs"] = {k: sha256_file(run / "n.txt") for k in entries[0]["outputs"]}
    _rechain(run, entries)
    assert verify_run(run).ok
    caught = verify_run(run, expected_head=kept)
    assert not caught.ok and "kept outside the run" in caught.problem


@pytest.mark.parametrize("damage", ["record-deleted", "line-1", "line-list", "manifest-list",
                                    "manifest-deleted", "record-binary"])
def test_damaged_runs_fail_verification_without_a_traceback(tmp_path, damage):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    record, manifest = run / RECORD, run / MANIFEST
    if damage == "record-deleted":
        record.unlink()
    elif damage == "line-1":
        record.write_text(record.read_text() + "1\n")
    elif damage == "line-list":
        record.write_text("[]\n" + record.read_text())
    elif damage == "manifest-list":
        manifest.write_text("[]")
    elif damage == "manifest-deleted":
        manifest.unlink()
    else:
        record.write_bytes(b"\xff\xfe\x00garbage")
    assert not verify_run(run).ok
    result = CliRunner().invoke(app, ["agent", "verify", str(run)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_cli_verify_with_a_head_file_and_bad_heads(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    head_file = tmp_path / "head.txt"
    head_file.write_text(verify_run(run).head + "\n")
    cli = CliRunner()
    ok = cli.invoke(app, ["agent", "verify", str(run), "--head", str(head_file), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["external_head"] is True
    wrong = cli.invoke(app, ["agent", "verify", str(run), "--head", "0" * 64])
    assert wrong.exit_code == 1
    bad = cli.invoke(app, ["agent", "verify", str(run), "--head", "nothex"])
    assert bad.exit_code == 2 and "64 hex digits" in bad.stderr
    missing = cli.invoke(app, ["agent", "verify", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "agent run directory" in missing.stderr


def test_cli_replay_into_the_run_is_refused(tmp_path):
    run = _run(tmp_path, tmp_path / "run", tmp_path / "run" / "n.txt")
    before = (run / RECORD).read_text()
    result = CliRunner().invoke(app, ["replay", str(run), "--out", str(run)])
    assert result.exit_code == 2 and "outside the run directory" in result.stderr
    assert (run / RECORD).read_text() == before
