"""Tool calls under a policy: run, refuse, reject, record and verify."""

from __future__ import annotations

import json
from pathlib import Path

from aihep.agent.policy import Policy
from aihep.agent.runner import MANIFEST, RECORD, ToolRunner, verify_run
from aihep.agent.tools import ToolRegistry, make_tool
from aihep.errors import InputError
from aihep.workflow.provenance import read_entries


def count_lines(source: Path, out: Path) -> int:
    """Count the lines of a file and write the count to ``out``."""
    if not source.exists():
        raise InputError(source, "file", "an existing file")
    n = len(source.read_text().splitlines())
    out.write_text(f"{n}\n")
    return n


def _runner(tmp_path, **policy):
    registry = ToolRegistry()
    registry.add(make_tool(count_lines, reads=("source",), writes=("out",), cpu_seconds=1))
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "a.txt").write_text("1\n2\n3\n")
    return ToolRunner(registry, Policy(read_paths=(inputs,), run_dir=tmp_path / "run",
                                       **policy)), inputs


def test_calls_are_run_refused_rejected_and_all_recorded(tmp_path):
    runner, inputs = _runner(tmp_path)
    ok = runner.call("count_lines", {"source": str(inputs / "a.txt"),
                                     "out": str(tmp_path / "run" / "n.txt")}, "test")
    assert ok.status == "ok" and ok.output == 3
    secret = tmp_path / "secret.txt"  # exists, but outside read_paths
    secret.write_text("x\n")
    refused = runner.call("count_lines", {"source": str(secret),
                                          "out": str(tmp_path / "run" / "m.txt")}, "test")
    assert refused.status == "refused" and f"reading {secret}" in refused.message
    invalid = runner.call("count_lines", {"source": 3}, "test")
    assert invalid.status == "invalid" and "out" in invalid.message
    unknown = runner.call("rm", {}, "test")
    assert unknown.status == "invalid"
    failed = runner.call("count_lines", {"source": str(inputs / "missing.txt"),
                                         "out": str(tmp_path / "run" / "x.txt")}, "test")
    assert failed.status == "error" and "missing.txt" in failed.message
    entries = read_entries(tmp_path / "run" / RECORD)
    assert [e["status"] for e in entries] == ["ok", "refused", "invalid", "invalid", "error"]
    assert len(entries[0]["inputs"]) == 1 and len(entries[0]["outputs"]) == 1
    assert verify_run(tmp_path / "run").ok


def test_verify_run_catches_truncation_and_resume_continues(tmp_path):
    runner, inputs = _runner(tmp_path, max_calls=3)
    args = {"source": str(inputs / "a.txt"), "out": str(tmp_path / "run" / "n.txt")}
    runner.call("count_lines", args, "test")
    runner.call("count_lines", args, "test")
    resumed, _ = _runner(tmp_path, max_calls=3)  # a new process on the same run dir
    assert resumed.calls == 2
    assert resumed.call("count_lines", args, "test").status == "ok"
    assert resumed.call("count_lines", args, "test").status == "refused"  # max_calls
    record = tmp_path / "run" / RECORD
    lines = record.read_text().splitlines()
    record.write_text("\n".join(lines[:-1]) + "\n")
    result = verify_run(tmp_path / "run")
    assert not result.ok and "truncated" in result.problem
    manifest = json.loads((tmp_path / "run" / MANIFEST).read_text())
    assert manifest["length"] == 4


def test_cli_agent_verify(tmp_path):
    from typer.testing import CliRunner

    from aihep.cli import app

    runner, inputs = _runner(tmp_path)
    runner.call("count_lines", {"source": str(inputs / "a.txt"),
                                "out": str(tmp_path / "run" / "n.txt")}, "test")
    cli = CliRunner()
    ok = cli.invoke(app, ["agent", "verify", str(tmp_path / "run"), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    record = tmp_path / "run" / RECORD
    record.write_text(record.read_text().replace('"count_lines"', '"other_tool"'))
    bad = cli.invoke(app, ["agent", "verify", str(tmp_path / "run"), "--json"])
    assert bad.exit_code == 1 and "modified" in json.loads(bad.stdout)["problem"]


def test_generation_tool_runs_under_the_runner(tmp_path):
    from aihep.agent.registry import default_registry

    runner = ToolRunner(default_registry(), Policy(run_dir=tmp_path / "run"))
    result = runner.call("generate_events", {
        "config": {"process": "qcd-dijet", "n_events": 20, "chunk_size": 20, "seed": 4},
        "out": str(tmp_path / "run" / "qcd")}, "test")
    assert result.status == "ok", result.message
    assert result.output["n_events"] == 20
    entry = read_entries(tmp_path / "run" / RECORD)[0]
    assert any(p.endswith(".parquet") for p in entry["outputs"])
    assert verify_run(tmp_path / "run").ok


def train_pickle(out: Path, value: int) -> str:
    """Write a model pickle (a stand-in for a boosted-tree run)."""
    import pickle

    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pkl").write_bytes(pickle.dumps({"value": value}))
    return str(out)


def plant_pickle(workdir: Path, value: int) -> str:
    """Confined code writing into the run directory."""
    return train_pickle(workdir, value)


def load_pickle(run: Path) -> int:
    """Load a model pickle."""
    import pickle

    return pickle.loads((run / "model.pkl").read_bytes())["value"]


def test_a_pickle_under_the_run_directory_loads_only_if_an_aihep_tool_wrote_it(tmp_path):
    registry = ToolRegistry()
    registry.add(make_tool(train_pickle, writes=("out",), cpu_seconds=1, job=True))
    registry.add(make_tool(plant_pickle, writes=("workdir",), cpu_seconds=1,
                           executes_code=True))
    registry.add(make_tool(load_pickle, reads=("run",), cpu_seconds=1, pickles=("run",)))
    mine = tmp_path / "inputs" / "mine"  # the user's own run: trusted
    train_pickle(mine, 7)
    runner = ToolRunner(registry, Policy(read_paths=(tmp_path / "inputs",),
                                         run_dir=tmp_path / "run", allow_code_execution=True))
    run = tmp_path / "run"
    assert runner.call("load_pickle", {"run": str(mine)}, "test").output == 7
    assert runner.call("train_pickle", {"out": str(run / "m"), "value": 1}, "t").status == "ok"
    assert runner.call("load_pickle", {"run": str(run / "m")}, "test").output == 1
    # code allowed to run confined writes a pickle of its own: not loaded
    assert runner.call("plant_pickle", {"workdir": str(run / "c"), "value": 2},
                       "t").status == "ok"
    refused = runner.call("load_pickle", {"run": str(run / "c")}, "test")
    assert refused.status == "refused" and "no aihep tool of this run wrote" in refused.message
    # nor does a tool resume from (write into) a folder holding one
    resumed = runner.call("train_pickle", {"out": str(run / "c"), "value": 4}, "t")
    assert resumed.status == "refused" and "model.pkl" in resumed.message
    # ... or replaces the one an aihep tool wrote
    train_pickle(run / "m", 3)
    assert runner.call("load_pickle", {"run": str(run / "m")}, "test").status == "refused"
