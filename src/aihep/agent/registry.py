"""The default tool registry: every toolkit capability an agent may call.

Kept apart from :mod:`aihep.agent.tools` (the tool machinery), so the runner, the policy and
the tools never import the task packages they expose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aihep.agent.audit import write_agent_report
from aihep.agent.tools import ToolRegistry, make_tool


def default_registry() -> ToolRegistry:
    """Every toolkit capability an agent may call, with its permissions."""
    from aihep.agent.sandbox import run_code
    from aihep.design.run import run_design_dir
    from aihep.discovery.hunt import run_hunt
    from aihep.discovery.spectrum import bump_hunt_table, extract_signal_table, limits_table
    from aihep.events.factory import generate
    from aihep.events.inspect import describe
    from aihep.events.lhco import build_lhco_dataset
    from aihep.fastsim.dataset import simulate_dataset as calo_simulate
    from aihep.fastsim.evaluate import evaluate_files as calo_evaluate
    from aihep.reco.run import evaluate_file as reco_evaluate
    from aihep.reco.run import simulate_file, train_gnn_file
    from aihep.report.calo import write_calo_report
    from aihep.report.design import write_design_report
    from aihep.report.hunt import write_hunt_report
    from aihep.report.lhco import write_lhco_report
    from aihep.report.reco import write_reco_report
    from aihep.report.tagging import write_tagger_report
    from aihep.tagging.tagger import evaluate_file, predict_file, train_from_file

    registry = ToolRegistry()
    # a planner never sees truth: no label or injected-signal counts
    registry.add(make_tool(describe, "inspect_dataset", reads=("path",), cpu_seconds=60,
                           fixed={"truth": False}))
    registry.add(make_tool(generate, "generate_events", writes=("out",), cpu_seconds=3600,
                           fixed={"executor": None, "progress": None, "overwrite": False},
                           job=True, generator_settings="config"))
    registry.add(make_tool(build_lhco_dataset, "build_lhco_dataset", writes=("out",),
                           cpu_seconds=3600, fixed={"executor": None, "progress": None,
                                                    "force": False, "overwrite": False,
                                                    "reporter": write_lhco_report}, job=True))
    registry.add(make_tool(bump_hunt_table, "bump_hunt", reads=("data",), writes=("out",),
                           cpu_seconds=600, job=True))
    registry.add(make_tool(extract_signal_table, "extract_signal", reads=("data", "scores"),
                           writes=("out",), cpu_seconds=600, job=True))
    registry.add(make_tool(limits_table, "limits", reads=("data",), writes=("out",),
                           cpu_seconds=600, job=True))
    # a CATHODE hunt over 16 windows (a flow and a classifier per window) needs about an
    # hour of CPU on two quiet cores and more when they are shared
    registry.add(make_tool(run_hunt, "hunt", reads=("data", "reference", "labels"),
                           writes=("out",), cpu_seconds=4 * 3600,
                           fixed={"executor": None, "force": False, "progress": None,
                                  "reporter": write_hunt_report},
                           job=True))
    registry.add(make_tool(write_agent_report, "write_report", reads=("run",),
                           writes=("out",), cpu_seconds=60))
    registry.add(make_tool(train_from_file, "tag_train", reads=("data",), writes=("out",),
                           cpu_seconds=4 * 3600, fixed={"progress": None, "force": False},
                           job=True))
    registry.add(make_tool(evaluate_file, "tag_evaluate", reads=("run", "data"),
                           writes=("out",), cpu_seconds=1800, job=True,
                           fixed={"reporter": write_tagger_report}, pickles=("run",)))
    registry.add(make_tool(predict_file, "tag_predict", reads=("run", "data"),
                           writes=("out",), cpu_seconds=1800, job=True,
                           fixed={"force": False}, pickles=("run",)))
    registry.add(make_tool(simulate_file, "reco_simulate", reads=("geometry",),
                           writes=("out",), cpu_seconds=3600,
                           fixed={"progress": None, "executor": None, "force": False},
                           job=True))
    registry.add(make_tool(train_gnn_file, "reco_train", reads=("data", "refine_from"),
                           writes=("out",), cpu_seconds=4 * 3600,
                           fixed={"progress": None, "force": False}, job=True))
    registry.add(make_tool(reco_evaluate, "reco_evaluate", reads=("data", "gnn_run"),
                           writes=("out",), cpu_seconds=3600,
                           fixed={"progress": None, "force": False,
                                  "reporter": write_reco_report}, job=True))
    registry.add(make_tool(calo_simulate, "calo_simulate", writes=("out",),
                           cpu_seconds=4 * 3600, fixed={"executor": None, "progress": None,
                                                        "force": False}, job=True))
    registry.add(make_tool(calo_evaluate, "calo_evaluate", reads=("reference", "generated"),
                           writes=("out",), cpu_seconds=3600,
                           fixed={"force": False, "reporter": write_calo_report}, job=True))
    registry.add(make_tool(run_design_dir, "design_run", reads=("problem_file",),
                           writes=("out",), cpu_seconds=4 * 3600, job=True,
                           fixed={"propose": None, "progress": None, "force": False,
                                  "reporter": write_design_report},
                           user_code=_design_simulator))
    _register_second_stage(registry)
    registry.add(make_tool(run_code, "run_code", writes=("workdir",), cpu_seconds=600,
                           executes_code=True, from_policy=("read_paths",)))
    return registry


def _register_second_stage(registry: ToolRegistry) -> None:
    """Fast-simulation training and generation, design comparison, the event model, PID,
    tau ID and the expert-model registry."""
    from aihep.agent.experts import find_experts, run_expert
    from aihep.assign.run import evaluate_file as assign_evaluate
    from aihep.assign.run import predict_file as assign_predict
    from aihep.assign.run import train_file as assign_train
    from aihep.design.compare import compare_runs
    from aihep.eventmodel.files import evaluate_file as event_evaluate
    from aihep.eventmodel.files import train_files as event_train
    from aihep.fastsim.surrogates import generate_file as calo_generate
    from aihep.fastsim.surrogates import train_file as calo_train
    from aihep.pid.files import evaluate_file as pid_evaluate
    from aihep.pid.files import simulate_file as pid_simulate
    from aihep.pid.files import train_file as pid_train
    from aihep.report.assign import write_assign_report
    from aihep.report.design import write_design_report
    from aihep.report.pid import write_pid_report
    from aihep.report.tau import write_tau_report
    from aihep.tau.data import build_tau_dataset
    from aihep.tau.run import evaluate_files as tau_evaluate
    from aihep.tau.run import train_files as tau_train

    hidden = {"progress": None, "force": False}
    registry.add(make_tool(calo_train, "calo_train", reads=("reference",), writes=("out",),
                           cpu_seconds=4 * 3600, fixed=hidden, job=True))
    registry.add(make_tool(calo_generate, "calo_generate", reads=("run",), writes=("out",),
                           cpu_seconds=1800, fixed={"force": False}, job=True))
    registry.add(make_tool(compare_runs, "design_compare", reads=("runs",), writes=("out",),
                           cpu_seconds=300, fixed={"reporter": write_design_report,
                                                   "force": False}))
    registry.add(make_tool(event_train, "event_train", writes=("out",), reads=("parts", "init"),
                           cpu_seconds=4 * 3600, fixed=hidden, job=True))
    registry.add(make_tool(event_evaluate, "event_evaluate", reads=("run", "data"),
                           writes=("out",), cpu_seconds=1800, fixed={"force": False},
                           job=True))
    registry.add(make_tool(assign_train, "assign_train", reads=("data",), writes=("out",),
                           cpu_seconds=4 * 3600, fixed=hidden, job=True))
    for function, name in ((assign_evaluate, "assign_evaluate"),
                           (assign_predict, "assign_predict")):
        registry.add(make_tool(function, name, reads=("data", "run", "train_data"),
                               writes=("out",), cpu_seconds=1800,
                               fixed={"force": False, "reporter": write_assign_report},
                               job=True))
    registry.add(make_tool(pid_simulate, "pid_simulate", writes=("out",), cpu_seconds=3600,
                           fixed={"force": False}, job=True))
    registry.add(make_tool(pid_train, "pid_train", reads=("simulation", "data"),
                           writes=("out",), cpu_seconds=4 * 3600, fixed={"force": False},
                           job=True))
    registry.add(make_tool(pid_evaluate, "pid_evaluate", reads=("run", "tracks_file"),
                           writes=("out",), cpu_seconds=1800,
                           fixed={"force": False, "reporter": write_pid_report}, job=True,
                           pickles=("run",)))
    registry.add(make_tool(build_tau_dataset, "tau_dataset", writes=("out",),
                           cpu_seconds=4 * 3600, fixed={**hidden, "workers": 1}, job=True))
    registry.add(make_tool(tau_train, "tau_train", reads=("simulation", "data"),
                           writes=("out",), cpu_seconds=4 * 3600,
                           fixed=hidden, job=True))
    registry.add(make_tool(tau_evaluate, "tau_evaluate", reads=("run", "data", "simulation"),
                           writes=("out",),
                           cpu_seconds=1800, fixed={"force": False,
                                                    "reporter": write_tau_report}, job=True))
    registry.add(make_tool(find_experts, "find_experts", cpu_seconds=10))
    registry.add(make_tool(run_expert, "run_expert", reads=("data",), writes=("out",),
                           cpu_seconds=3600, job=True))


def _design_simulator(arguments: Any) -> str | None:
    """The simulator a design problem file names when it is not a built-in one (a
    ``package.module:function`` runs in the job, outside any sandbox)."""
    import yaml

    from aihep.design.problem import BUILT_IN_SIMULATORS

    path = getattr(arguments, "problem_file", None)
    if path is None:
        return None
    try:
        name = yaml.safe_load(Path(path).read_text())["objective"]["simulator"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return None  # not a problem file: the tool's own check names what is wrong
    if name in BUILT_IN_SIMULATORS:
        return None
    return f"the simulator {name!r} named in {path}"
