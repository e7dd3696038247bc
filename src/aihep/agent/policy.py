"""The permission policy of an agent run: which tools, which files, how much, no network.

A policy (YAML or JSON, safe defaults) lists the allowed tools, the read-only input paths, the
one writable run directory, a per-call CPU-time limit and a maximum number of calls. Every
proposed call is checked before it runs; a refusal names the rule it broke. Network access is
never granted: tools run offline. Free-form code execution (the ``run_code`` tool) is off
unless ``allow_code_execution`` is set, and then runs confined (:mod:`aihep.agent.sandbox`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from aihep.agent.tools import Tool, ToolError


class PermissionDenied(ToolError):
    """A call breaks the run's policy."""


#: hunt methods that need truth labels (a bound on what an analysis can reach, not a search)
TRUTH_METHODS = ("supervised",)


class Policy(BaseModel):
    """What an agent run may do. Paths are resolved; CPU time in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_tools: tuple[str, ...] | None = Field(
        None, description="tool names; None allows every registered tool")
    read_paths: tuple[Path, ...] = Field((), description="files or directories readable")
    run_dir: Path = Field(Path("runs/agent"), description="the only writable directory")
    max_cpu_seconds_per_call: float = Field(
        4 * 3600.0, gt=0, description="RLIMIT_CPU of a job (all its threads); a training or "
        "a 16-window CATHODE hunt needs about an hour on two cores, more when they are shared")
    max_memory_bytes_per_call: int | None = Field(
        16 * 2**30, gt=0, description="address-space limit of job processes (RLIMIT_AS)")
    max_calls: int = Field(50, ge=1)
    allow_code_execution: bool = False
    allow_generator_files: bool = Field(
        False, description="let raw Pythia settings open files (Beams:LHEF, SLHA:file...); "
        "the files must then lie under read_paths")
    allow_network: bool = Field(False, description="always refused: runs are offline")
    allow_truth_methods: bool = Field(
        False, description="let a hunt use methods that train on truth labels (supervised); "
        "real data have none, so a result that used them is no discovery")

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Load a YAML or JSON policy."""
        import yaml

        from aihep.errors import InputError

        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(path, "file", f"a readable YAML policy ({exc})") from None
        return cls.model_validate(data)

    def check(self, tool: Tool, arguments: BaseModel, calls_so_far: int) -> None:
        """Raise :class:`PermissionDenied` when the call is outside the policy."""
        if self.allow_network:
            msg = "policy: network access cannot be granted (runs are offline)"
            raise PermissionDenied(msg)
        if self.allowed_tools is not None and tool.name not in self.allowed_tools:
            msg = f"policy: tool '{tool.name}' is not in allowed_tools"
            raise PermissionDenied(msg)
        if tool.executes_code and not self.allow_code_execution:
            msg = (f"policy: tool '{tool.name}' executes free-form code; set "
                   "allow_code_execution to permit it (it then runs confined)")
            raise PermissionDenied(msg)
        code_config = getattr(arguments, "config", None) if tool.executes_code else None
        if code_config is not None and code_config.cpu_seconds > self.max_cpu_seconds_per_call:
            msg = (f"policy: code may use {code_config.cpu_seconds} s of CPU, the limit "
                   f"per call is {self.max_cpu_seconds_per_call:g} s")
            raise PermissionDenied(msg)
        methods = getattr(getattr(arguments, "config", None), "methods", None) or ()
        truth = sorted(set(methods) & set(TRUTH_METHODS))
        if truth and not self.allow_truth_methods:
            msg = (f"policy: method {', '.join(truth)} trains on truth labels, which real data "
                   "do not have; set allow_truth_methods to permit it")
            raise PermissionDenied(msg)
        if calls_so_far >= self.max_calls:
            msg = f"policy: max_calls = {self.max_calls} reached"
            raise PermissionDenied(msg)
        if tool.cpu_seconds > self.max_cpu_seconds_per_call:
            msg = (f"policy: tool '{tool.name}' needs up to {tool.cpu_seconds:g} s of CPU, "
                   f"the limit per call is {self.max_cpu_seconds_per_call:g} s")
            raise PermissionDenied(msg)
        readable = [p.resolve() for p in (*self.read_paths, self.run_dir)]
        for path in tool.paths(arguments, "reads"):
            if not any(_inside(path.resolve(), root) for root in readable):
                msg = f"policy: reading {path} is not allowed (not under read_paths or run_dir)"
                raise PermissionDenied(msg)
        for setting, path in tool.setting_files(arguments):
            if not self.allow_generator_files:
                msg = (f"policy: the generator setting '{setting}' opens a file; set "
                       "allow_generator_files (the file must then be under read_paths)")
                raise PermissionDenied(msg)
            if not any(_inside(path.resolve(), root) for root in readable):
                msg = (f"policy: the generator setting '{setting}' reads {path}, which is not "
                       "under read_paths or run_dir")
                raise PermissionDenied(msg)
        code = tool.user_code(arguments) if tool.user_code is not None else None
        if code and not self.allow_code_execution:
            msg = (f"policy: tool '{tool.name}' would import and run {code}, code from outside "
                   "aihep that is not confined; set allow_code_execution to permit it")
            raise PermissionDenied(msg)
        for path in tool.paths(arguments, "writes"):
            if not _inside(path.resolve(), self.run_dir.resolve()):
                msg = f"policy: writing {path} is not allowed (outside run_dir {self.run_dir})"
                raise PermissionDenied(msg)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
