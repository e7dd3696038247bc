"""Tools are built from typed functions: schemas, validation, permissions metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from aihep.agent.registry import default_registry
from aihep.agent.tools import ToolError, ToolRegistry, make_tool


def scale_spectrum(path: Path, factor: float = 1.0, bins: int = 10) -> dict:
    """Scale a spectrum by a factor.

    More text that is not part of the description.
    """
    return {"path": str(path), "factor": factor, "bins": bins}


def test_tool_from_a_typed_function():
    tool = make_tool(scale_spectrum, reads=("path",))
    schema = tool.schema()
    assert schema["name"] == "scale_spectrum"
    assert schema["description"] == "Scale a spectrum by a factor."
    props = schema["parameters"]["properties"]
    assert props["factor"]["type"] == "number" and props["bins"]["default"] == 10
    assert schema["parameters"]["required"] == ["path"]
    args = tool.validate({"path": "a.csv", "factor": 2})
    assert tool(args) == {"path": "a.csv", "factor": 2.0, "bins": 10}
    assert tool.paths(args, "reads") == [Path("a.csv")]


@pytest.mark.parametrize(("arguments", "match"), [
    ({"factor": 2}, "path: Field required"),
    ({"path": "a", "bins": "many"}, "bins"),
    ({"path": "a", "rm_rf": True}, "rm_rf: Extra inputs are not permitted"),
])
def test_bad_arguments_are_readable_errors(arguments, match):
    tool = make_tool(scale_spectrum)
    with pytest.raises(ToolError, match=match):
        tool.validate(arguments)


def test_registry_refuses_unknown_and_duplicate_tools():
    registry = ToolRegistry()
    registry.add(make_tool(scale_spectrum))
    with pytest.raises(ToolError, match="unknown tool 'shell'"):
        registry.get("shell")
    with pytest.raises(ValueError, match="twice"):
        registry.add(make_tool(scale_spectrum))


def test_default_registry_exposes_hunt_with_its_config_schema():
    registry = default_registry()
    hunt = registry.get("hunt")
    params = hunt.schema()["parameters"]
    assert {"data", "out", "config", "reference", "labels"} <= set(params["properties"])
    assert "executor" not in params["properties"]  # fixed by the orchestrator
    assert hunt.writes == ("out",) and "data" in hunt.reads
    args = hunt.validate({"data": "d.parquet", "out": "run/hunt",
                          "config": {"methods": ["cwola"], "sr_scan": True}})
    assert args.config.methods == ("cwola",)
    with pytest.raises(ToolError, match="methods"):
        hunt.validate({"data": "d.parquet", "out": "o", "config": {"methods": ["magic"]}})


def test_generation_tools_take_their_config_models():
    registry = default_registry()
    gen = registry.get("generate_events")
    args = gen.validate({"config": {"process": "qcd-dijet", "n_events": 10, "seed": 2},
                         "out": "run/qcd"})
    assert args.config.n_events == 10 and gen.writes == ("out",)
    with pytest.raises(ToolError, match="n_events"):
        gen.validate({"config": {"process": "qcd-dijet", "n_events": -5}, "out": "run/q"})
    assert "config" in registry.get("build_lhco_dataset").schema()["parameters"]["required"]


def test_no_tool_lets_the_model_overwrite_results():
    """``force`` / ``overwrite`` (write into a folder holding other results, discard a
    previous run) and callbacks are fixed by the registry, never arguments a planner sets."""
    registry = default_registry()
    exposed = {name: set(registry.get(name).arguments.model_fields)
               for name in registry.tools}
    assert exposed and not [n for n, f in exposed.items() if {"force", "overwrite"} & f]
    assert not [n for n, fields in exposed.items() if {"progress", "reporter"} & fields]
