"""The permission policy refuses what it does not allow, naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from aihep.agent.policy import PermissionDenied, Policy
from aihep.agent.tools import make_tool


def copy_table(source: Path, target: Path) -> str:
    """Copy a table."""
    return str(target)


TOOL = make_tool(copy_table, reads=("source",), writes=("target",), cpu_seconds=10)


def _policy(tmp_path, **kw):
    return Policy(read_paths=(tmp_path / "inputs",), run_dir=tmp_path / "run", **kw)


def test_allowed_call_passes(tmp_path):
    args = TOOL.validate({"source": str(tmp_path / "inputs" / "a.csv"),
                          "target": str(tmp_path / "run" / "b.csv")})
    _policy(tmp_path).check(TOOL, args, calls_so_far=0)  # raises PermissionDenied if refused
    # the same call one path component off is refused: the check looks at these paths
    outside = TOOL.validate({"source": str(tmp_path / "a.csv"),
                             "target": str(tmp_path / "run" / "b.csv")})
    with pytest.raises(PermissionDenied):
        _policy(tmp_path).check(TOOL, outside, calls_so_far=0)


@pytest.mark.parametrize(("source", "target", "match"), [
    ("elsewhere/a.csv", "run/b.csv", "reading"),
    ("inputs/../secret.csv", "run/b.csv", "reading"),
    ("inputs/a.csv", "inputs/b.csv", "writing"),
    ("inputs/a.csv", "run/../../b.csv", "writing"),
])
def test_paths_outside_the_policy_are_refused(tmp_path, source, target, match):
    args = TOOL.validate({"source": str(tmp_path / source), "target": str(tmp_path / target)})
    with pytest.raises(PermissionDenied, match=match):
        _policy(tmp_path).check(TOOL, args, calls_so_far=0)


def test_tool_list_budget_and_call_count(tmp_path):
    args = TOOL.validate({"source": str(tmp_path / "inputs/a"), "target": str(tmp_path / "run/b")})
    with pytest.raises(PermissionDenied, match="allowed_tools"):
        _policy(tmp_path, allowed_tools=("inspect_dataset",)).check(TOOL, args, 0)
    with pytest.raises(PermissionDenied, match="CPU"):
        _policy(tmp_path, max_cpu_seconds_per_call=5).check(TOOL, args, 0)
    with pytest.raises(PermissionDenied, match="max_calls"):
        _policy(tmp_path, max_calls=3).check(TOOL, args, 3)
    with pytest.raises(PermissionDenied, match="network"):
        _policy(tmp_path, allow_network=True).check(TOOL, args, 0)


def test_policy_from_yaml(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(f"run_dir: {tmp_path / 'run'}\nmax_calls: 7\nallowed_tools: [hunt]\n")
    policy = Policy.from_file(path)
    assert policy.max_calls == 7 and policy.allowed_tools == ("hunt",)
    assert not policy.allow_code_execution and not policy.allow_network


def test_generator_settings_that_open_files_pass_the_read_policy(tmp_path):
    """`--set Beams:LHEF=/any/file` made Pythia open any file, past the read policy."""
    from aihep.agent.registry import default_registry
    from aihep.agent.runner import ToolRunner

    lhe = tmp_path / "inputs" / "events.lhe"
    lhe.parent.mkdir()
    lhe.write_text("<LesHouchesEvents version=\"1.0\">\n</LesHouchesEvents>\n")
    config = {"process": "qcd-dijet", "n_events": 5, "chunk_size": 5,
              "settings": ["Beams:frameType = 4", "Beams:LHEF = /etc/passwd"]}
    args = {"config": config, "out": str(tmp_path / "run" / "g")}
    runner = ToolRunner(default_registry(), Policy(run_dir=tmp_path / "run"))
    refused = runner.call("generate_events", args, "test")
    assert refused.status == "refused" and "allow_generator_files" in refused.message
    opened = ToolRunner(default_registry(), Policy(run_dir=tmp_path / "run",
                                                   read_paths=(lhe.parent,),
                                                   allow_generator_files=True))
    outside = opened.call("generate_events", args, "test")
    assert outside.status == "refused" and "/etc/passwd" in outside.message
    assert not (tmp_path / "run" / "g").exists()
    implicit = opened.call("generate_events", {**args, "config": {
        **config, "settings": ["Beams:frameType = 4"]}}, "test")  # reads ./events.lhe
    assert implicit.status == "refused" and "events.lhe" in implicit.message


def test_truth_methods_are_refused_unless_allowed_and_inspection_hides_truth(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aihep.agent.registry import default_registry
    from aihep.events.inspect import describe

    hunt = default_registry().get("hunt")
    args = hunt.validate({"data": str(tmp_path / "inputs" / "d.parquet"),
                          "out": str(tmp_path / "run" / "h"),
                          "config": {"methods": ["cwola", "supervised"]}})
    with pytest.raises(PermissionDenied, match=r"supervised.*truth labels"):
        _policy(tmp_path).check(hunt, args, calls_so_far=0)
    _policy(tmp_path, allow_truth_methods=True).check(hunt, args, calls_so_far=0)
    # what the planner's inspect_dataset returns has no label counts; aihep info keeps them
    (tmp_path / "inputs").mkdir()
    table = {"mjj": [3000.0, 3100.0], "mj1": [50.0, 60.0], "delta_mj": [10.0, 20.0],
             "tau21_j1": [0.5, 0.6], "tau21_j2": [0.4, 0.3], "label": [0, 1]}
    pq.write_table(pa.table(table), tmp_path / "inputs" / "d.parquet")
    inspect = default_registry().get("inspect_dataset")
    shown = inspect.function(**inspect.call_arguments(inspect.validate(
        {"path": str(tmp_path / "inputs" / "d.parquet")})))
    assert "labels" not in shown and "label" not in shown["features"]
    assert describe(tmp_path / "inputs" / "d.parquet")["labels"] == {0: 1, 1: 1}


def test_default_policy_admits_every_registered_tool(tmp_path):
    """A tool declaring more CPU than the default limit would be refused on every call
    (the hunt's 16-window CATHODE scan was killed at a 1-hour limit)."""
    from aihep.agent.registry import default_registry

    limit = Policy(run_dir=tmp_path).max_cpu_seconds_per_call
    too_long = {name: tool.cpu_seconds for name, tool in default_registry().tools.items()
                if tool.cpu_seconds > limit}
    assert not too_long
    assert default_registry().get("hunt").cpu_seconds >= 2 * 3600


def test_a_design_problem_with_its_own_simulator_needs_code_permission(tmp_path):
    """A problem file naming ``package.module:function`` runs that code in the job, outside
    the sandbox: refused unless allow_code_execution; built-in simulators pass."""
    import yaml

    from aihep.agent.registry import default_registry
    from aihep.design.problems import spectrometer_spec

    registry = default_registry()
    tool = registry.get("design_run")
    (tmp_path / "inputs").mkdir()
    own, builtin = tmp_path / "inputs" / "own.yaml", tmp_path / "inputs" / "builtin.yaml"
    spec = spectrometer_spec()
    builtin.write_text(yaml.safe_dump(spec))
    spec["objective"]["simulator"] = "mylab.sim:simulate"
    own.write_text(yaml.safe_dump(spec))

    def check(path, **kw):
        args = tool.validate({"problem": "", "problem_file": str(path),
                              "out": str(tmp_path / "run" / "d")})
        _policy(tmp_path, **kw).check(tool, args, calls_so_far=0)

    check(builtin)
    with pytest.raises(PermissionDenied, match=r"'mylab.sim:simulate'.*allow_code_execution"):
        check(own)
    check(own, allow_code_execution=True)
