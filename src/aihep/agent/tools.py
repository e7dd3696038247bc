"""Typed tools: toolkit functions with a pydantic argument model, a JSON schema and permissions.

A tool is built from a public function's signature and docstring: the argument model comes
from the type hints and defaults, the description from the docstring's first paragraph.
Each tool declares which arguments are files it reads and which are paths it writes (they
must lie in the run directory), and a CPU-time budget per call. New capabilities register
their tools in :func:`default_registry` (one place).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from aihep.errors import AihepError


class ToolError(AihepError):
    """A tool call is unknown, malformed or not allowed."""


@dataclass(frozen=True)
class Tool:
    """One callable tool with its argument model and permissions."""

    name: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    description: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    cpu_seconds: float = 600.0
    fixed: dict[str, Any] = field(default_factory=dict)  # set by the orchestrator, not models
    job: bool = False  # long calls run as monitored jobs (a child process with limits)
    executes_code: bool = False  # free-form code: only with the policy's allow_code_execution
    from_policy: tuple[str, ...] = ()  # parameters the runner fills from the policy (read_paths)
    generator_settings: str | None = None  # config argument whose raw Pythia settings may
    #                                        open files (checked against the read policy)
    user_code: Callable[[BaseModel], str | None] | None = None  # what user code a call
    #   would import and run unconfined (a design problem's own simulator), else None
    pickles: tuple[str, ...] = ()  # run-directory arguments whose pickles a call loads:
    #   under the run directory only those an aihep tool of this run wrote (runner check)

    def schema(self) -> dict[str, Any]:
        """OpenAI-style function schema: name, description, JSON-schema parameters."""
        return {"name": self.name, "description": self.description,
                "parameters": self.arguments.model_json_schema()}

    def validate(self, arguments: dict[str, Any]) -> BaseModel:
        """Parse model-proposed arguments; a readable :class:`ToolError` when they are wrong."""
        try:
            return self.arguments.model_validate(arguments)
        except ValidationError as exc:
            parts = [f"{'.'.join(str(x) for x in e['loc']) or '(arguments)'}: {e['msg']}"
                     for e in exc.errors()]
            msg = f"invalid arguments for tool '{self.name}': " + "; ".join(parts)
            raise ToolError(msg) from None

    def paths(self, arguments: BaseModel, which: str) -> list[Path]:
        """The file arguments a call reads (``which="reads"``), writes, or whose pickles it
        loads (``which="pickles"``)."""
        names = {"reads": self.reads, "pickles": self.pickles}.get(which, self.writes)
        return [p for n in names for p in _paths(getattr(arguments, n))]

    def setting_files(self, arguments: BaseModel) -> list[tuple[str, Path]]:
        """(setting, file) of the raw generator settings of a call that open a file."""
        if self.generator_settings is None:
            return []
        from aihep.events.pythia import file_settings

        config = getattr(arguments, self.generator_settings, None)
        return file_settings(getattr(config, "settings", None) or [])

    def call_arguments(self, arguments: BaseModel) -> dict[str, Any]:
        """Keyword arguments of the function for validated ``arguments`` (plus ``fixed``)."""
        return {**{k: getattr(arguments, k) for k in type(arguments).model_fields},
                **self.fixed}

    def __call__(self, arguments: BaseModel, context: dict[str, Any] | None = None) -> Any:
        """Run the function (``context``: the values of ``from_policy`` parameters); results
        with ``to_dict`` (aihep result objects) become dicts."""
        output = self.function(**self.call_arguments(arguments), **(context or {}))
        return output.to_dict() if hasattr(output, "to_dict") else output


def _paths(value: Any) -> list[Path]:
    """The paths in an argument: a path, a list of paths, or a list of (path, label)
    pairs (the path comes first)."""
    if value is None:
        return []
    if isinstance(value, str | Path):
        return [Path(value)]
    if isinstance(value, list | tuple):
        out: list[Path] = []
        for item in value:
            out += _paths(item[0] if isinstance(item, list | tuple) and item else item)
        return out
    return []


def _description(function: Callable[..., Any]) -> str:
    doc = inspect.getdoc(function) or function.__name__
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def make_tool(function: Callable[..., Any], name: str | None = None,
              reads: tuple[str, ...] = (), writes: tuple[str, ...] = (),
              cpu_seconds: float = 600.0, fixed: dict[str, Any] | None = None,
              job: bool = False, executes_code: bool = False,
              from_policy: tuple[str, ...] = (),
              generator_settings: str | None = None,
              user_code: Callable[[BaseModel], str | None] | None = None,
              pickles: tuple[str, ...] = ()) -> Tool:
    """Build a :class:`Tool` from a typed function (parameters in ``fixed`` and
    ``from_policy`` are hidden from the model)."""
    fixed = fixed or {}
    hints = typing.get_type_hints(function)
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.name in fixed or param.name in from_policy:
            continue
        if param.name not in hints:
            msg = f"tool {function.__name__}: parameter '{param.name}' has no type hint"
            raise TypeError(msg)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    for name_ in (*reads, *writes):
        if name_ not in fields:
            msg = f"tool {function.__name__}: no parameter '{name_}' to read or write"
            raise TypeError(msg)
    tool_name = name or function.__name__
    model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"),
                         **fields)
    return Tool(tool_name, function, model, _description(function), reads, writes,
                cpu_seconds, fixed, job, executes_code, from_policy, generator_settings,
                user_code, pickles)


class ToolRegistry:
    """Tools by name."""

    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}

    def add(self, tool: Tool) -> Tool:
        if tool.name in self.tools:
            msg = f"tool '{tool.name}' is registered twice"
            raise ValueError(msg)
        self.tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool:
        if name not in self.tools:
            msg = f"unknown tool '{name}'; available: {', '.join(sorted(self.tools))}"
            raise ToolError(msg)
        return self.tools[name]

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self.tools.values()]
