"""The expert-model registry (cards, find by task and input schema, call), and the MCP
server: the SDK's own client lists the tools, calls one, and sees a refusal recorded."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import RECORD, ToolRunner, verify_run
from aihep.cli import app
from aihep.workflow.models import ModelRegistry
from aihep.workflow.provenance import read_entries

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A PID run and a tau run, trained on tiny samples."""
    root = tmp_path_factory.mktemp("experts")
    for args in (["pid", "simulate", "--out", str(root / "tracks"), "--events", "120"],
                 ["pid", "train", str(root / "tracks" / "tracks.parquet"), "--out",
                  str(root / "pid_run"), "--method", "hgb"],
                 ["tau", "dataset", "ztautau", "--out", str(root / "taus"), "--events", "120"],
                 ["tau", "dataset", "qcd", "--out", str(root / "jets"), "--events", "200"],
                 ["tau", "train", "--sim", str(root / "taus"), "--sim", str(root / "jets"),
                  "--out", str(root / "tau_run"), "--epochs", "1", "--channels", "8"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    return root


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("AIHEP_MODELS", str(tmp_path / "registry"))
    return tmp_path / "registry"


def register(run: Path, name: str, *extra: str) -> dict:
    result = runner.invoke(app, ["models", "register", str(run), "--name", name, "--json",
                                 *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_register_list_show_find_remove(trained, registry):
    pid = register(trained / "pid_run", "pid-hgb")
    tau = register(trained / "tau_run", "tau-cnn", "--benchmark-commit", "abc1234")
    assert pid["area"] == "pid" and pid["input_schema"] == "pid/tracks"
    assert pid["training_data"][0]["sha256"] and "GeV" in pid["inputs"]["tracks"]
    assert tau["task"] == "tau identification" and tau["benchmark_commit"] == "abc1234"
    assert tau["size"]["bytes"] > 0 and tau["metrics"]  # the run's validation numbers
    again = register(trained / "tau_run", "tau-cnn")
    assert again["version"] == 2
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)["models"]
    assert {(m["name"], m["version"]) for m in listed} == {("pid-hgb", 1), ("tau-cnn", 2)}
    found = ModelRegistry().find(task="tau", input_schema="tau/candidates")
    assert [c.name for c in found] == ["tau-cnn"]
    assert ModelRegistry().find(task="tau", input_schema="pid/tracks") == []
    shown = json.loads(runner.invoke(app, ["models", "show", "tau-cnn", "--version", "1",
                                           "--json"]).stdout)
    assert shown["version"] == 1
    removed = runner.invoke(app, ["models", "remove", "tau-cnn", "--json"])
    assert json.loads(removed.stdout)["versions"] == [1, 2]
    assert [c.name for c in ModelRegistry().cards()] == ["pid-hgb"]


def test_a_relative_or_moved_registry_still_finds_its_models(trained, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["models", "register", str(trained / "pid_run"), "--name",
                                 "pid-hgb", "--registry", "rel"])
    assert result.exit_code == 0, result.output
    (tmp_path / "rel").rename(tmp_path / "moved")
    monkeypatch.chdir(trained)  # another working directory
    card = ModelRegistry(tmp_path / "moved").show("pid-hgb")
    assert Path(card.directory) == (tmp_path / "moved" / "pid-hgb" / "v1" / "run").resolve()
    assert (Path(card.directory) / "manifest.json").is_file()


def test_registry_bad_input(trained, registry, tmp_path, one_line_error):
    cases = [(["models", "register", str(tmp_path), "--name", "x"], "manifest.json"),
             (["models", "register", str(trained / "pid_run"), "--name", "Bad Name"],
              "model name 'Bad Name'"),
             (["models", "register", str(trained / "tracks"), "--name", "tracks"],
              "kind: expected a trained model run"),
             (["models", "show", "nothing"], "a registered model")]
    for args, message in cases:
        assert message in one_line_error(runner.invoke(app, args))


def test_agent_chooses_an_expert_by_task_and_input_schema(trained, registry, tmp_path):
    register(trained / "pid_run", "pid-hgb")
    register(trained / "tau_run", "tau-cnn")
    run = ToolRunner(default_registry(), Policy(read_paths=(trained,),
                                                run_dir=tmp_path / "run"))
    found = run.call("find_experts", {"task": "identification",
                                      "input_schema": "tau/candidates"}, "planner")
    assert found.status == "ok" and [c["name"] for c in found.output] == ["tau-cnn"]
    called = run.call("run_expert", {"name": found.output[0]["name"],
                                     "data": str(trained / "taus"),
                                     "out": str(tmp_path / "run" / "scores")}, "planner")
    assert called.status == "ok", called.message
    assert called.output["result"]["candidates"] > 0
    assert (tmp_path / "run" / "scores" / "probabilities.npz").is_file()
    outside = run.call("run_expert", {"name": "tau-cnn", "data": str(tmp_path),
                                      "out": str(tmp_path / "run" / "x")}, "planner")
    assert outside.status == "refused"
    assert verify_run(tmp_path / "run").ok


def _mcp_session(server_or_params, body):
    from mcp import Client

    async def main():
        async with Client(server_or_params) as client:
            return await body(client)

    return asyncio.run(main())


def test_mcp_in_process_tools_call_refusal_and_cards(trained, registry, tmp_path):
    from aihep.agent.mcp import build_server

    register(trained / "pid_run", "pid-hgb")
    run_dir = tmp_path / "run"
    policy = Policy(read_paths=(trained,), run_dir=run_dir,
                    allowed_tools=("pid_evaluate", "find_experts", "inspect_dataset"))
    server = build_server(ToolRunner(default_registry(), policy))

    async def body(client):
        tools = (await client.list_tools()).tools
        names = {t.name for t in tools}
        schema = next(t for t in tools if t.name == "pid_train").input_schema
        ok = await client.call_tool("pid_evaluate", {
            "run": str(trained / "pid_run"),
            "tracks_file": str(trained / "tracks" / "tracks.parquet"),
            "out": str(run_dir / "eval")})
        refused = await client.call_tool("pid_train", {
            "simulation": str(trained / "tracks" / "tracks.parquet"),
            "out": str(run_dir / "train")})
        resources = (await client.list_resources()).resources
        card = await client.read_resource(str(resources[0].uri))
        return names, schema, ok, refused, resources, card

    names, schema, ok, refused, resources, card = _mcp_session(server, body)
    assert {"pid_train", "tau_train", "calo_train", "design_run", "event_train",
            "find_experts", "run_expert"} <= names
    assert "simulation" in schema["properties"] and "simulation" in schema["required"]
    assert not ok.is_error and ok.structured_content["status"] == "ok"
    assert ok.structured_content["output"]["performance"]["all"]["f1_macro"] >= 0
    assert refused.is_error and "not in allowed_tools" in refused.structured_content["message"]
    assert [str(r.uri) for r in resources] == ["aihep://models/pid-hgb"]
    assert json.loads(card.contents[0].text)["area"] == "pid"
    statuses = [e["status"] for e in read_entries(run_dir / RECORD)]
    assert statuses == ["ok", "refused"]  # the refusal is in the provenance record
    assert verify_run(run_dir).ok


def test_mcp_over_stdio_with_the_sdk_client(trained, tmp_path):
    from mcp.client.stdio import StdioServerParameters

    run_dir = tmp_path / "run"
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"run_dir: {run_dir}\nread_paths: [{trained}]\n"
                      "allowed_tools: [inspect_dataset]\n")
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "aihep", "mcp", "serve", "--policy", str(policy), "--inline"],
        env={"OMP_NUM_THREADS": "1"})

    async def body(client):
        names = {t.name for t in (await client.list_tools()).tools}
        ok = await client.call_tool("inspect_dataset", {
            "path": str(trained / "tracks" / "tracks.parquet")})
        refused = await client.call_tool("pid_train", {
            "simulation": str(trained / "tracks" / "tracks.parquet"),
            "out": str(run_dir / "train")})
        return names, ok, refused

    names, ok, refused = _mcp_session(params, body)
    assert "inspect_dataset" in names and "tau_train" in names
    assert refused.is_error
    entries = read_entries(run_dir / RECORD)
    assert [e["tool"] for e in entries] == ["inspect_dataset", "pid_train"]
    assert entries[1]["status"] == "refused" and entries[0]["actor"] == "mcp-client"
    assert ok.structured_content["status"] in ("ok", "error")  # a Parquet track file
    assert verify_run(run_dir).ok


def test_mcp_concurrent_calls_keep_one_chain(registry, tmp_path):
    from aihep.agent.mcp import build_server

    run_dir = tmp_path / "run"
    server = build_server(ToolRunner(default_registry(), Policy(run_dir=run_dir)))

    async def body(client):
        return await asyncio.gather(*(client.call_tool("find_experts", {"task": f"t{i}"})
                                      for i in range(8)))

    results = _mcp_session(server, body)
    assert all(not r.is_error for r in results)
    assert len(read_entries(run_dir / RECORD)) == 8 and verify_run(run_dir).ok
