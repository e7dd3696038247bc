"""Runs tool calls under a policy and records each one (accepted, refused or failed).

Every call goes: validate the arguments against the tool schema -> check the policy ->
execute -> append a provenance entry with input/output file hashes, duration and status.
The head hash and length of the record are kept in ``agent_manifest.json`` in the run
directory (written atomically after every call), so `aihep agent verify RUN` can tell an
intact record from an edited, truncated or recomputed one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep.agent.policy import PermissionDenied, Policy
from aihep.agent.provenance import ProvenanceRecord, VerifyResult, verify_record
from aihep.agent.tools import ToolError, ToolRegistry
from aihep.errors import AihepError

RECORD = "provenance.jsonl"
MANIFEST = "agent_manifest.json"


@dataclass(frozen=True)
class CallResult:
    """What one call returned, or why it did not run."""

    tool: str
    status: str  # ok | refused | invalid | error
    output: Any = None
    message: str = ""


class ToolRunner:
    """Executes validated, permitted tool calls and records them in the run directory."""

    def __init__(self, registry: ToolRegistry, policy: Policy) -> None:
        self.registry = registry
        self.policy = policy
        self.run_dir = Path(policy.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.record = ProvenanceRecord(self.run_dir / RECORD)
        self.calls = self.record.length  # a resumed run keeps counting

    def call(self, tool_name: str, arguments: dict[str, Any], actor: str) -> CallResult:
        """Validate, check, run and record one call; never raises for a bad call."""
        start = time.perf_counter()
        try:
            tool = self.registry.get(tool_name)
            parsed = tool.validate(arguments)
        except ToolError as exc:
            return self._done(actor, tool_name, arguments, CallResult(tool_name, "invalid",
                                                                      message=str(exc)), start)
        try:
            self.policy.check(tool, parsed, self.calls)
        except PermissionDenied as exc:
            return self._done(actor, tool_name, arguments,
                              CallResult(tool_name, "refused", message=str(exc)), start)
        inputs = [p for p in tool.paths(parsed, "reads") if p.is_file()]
        try:
            output = tool(parsed)
            result = CallResult(tool_name, "ok", output)
        except AihepError as exc:
            result = CallResult(tool_name, "error", message=str(exc))
        outputs = []
        for path in tool.paths(parsed, "writes"):
            outputs += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() \
                else [path]
        return self._done(actor, tool_name, parsed.model_dump(mode="json"), result, start,
                          inputs, outputs)

    def _done(self, actor: str, tool: str, arguments: dict[str, Any], result: CallResult,
              start: float, inputs: list[Path] | None = None,
              outputs: list[Path] | None = None) -> CallResult:
        self._append(actor, tool, arguments, inputs, outputs, result.status,
                     time.perf_counter() - start, {"message": result.message})
        self.calls += 1
        return result

    def note(self, actor: str, event: str, arguments: dict[str, Any],
             extra: dict[str, Any] | None = None) -> None:
        """Record something that is not a tool call (a memory read, the final answer)."""
        self._append(actor, event, arguments, None, None, "ok", 0.0, extra or {})

    def _append(self, actor: str, tool: str, arguments: dict[str, Any],
                inputs: list[Path] | None, outputs: list[Path] | None, status: str,
                duration: float, extra: dict[str, Any]) -> None:
        from aihep.io.atomic import write_json_atomic

        self.record.append(actor, tool, arguments, inputs, outputs, status, duration, extra)
        write_json_atomic(self.run_dir / MANIFEST, {
            "record": RECORD, "head": self.record.head, "length": self.record.length,
            "policy": self.policy.model_dump(mode="json")})


def verify_run(run_dir: str | Path) -> VerifyResult:
    """Check a run's record against the head and length stored in its manifest."""
    import json

    from aihep.errors import InputError

    run_dir = Path(run_dir)
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        raise InputError(run_dir / MANIFEST, "file", "the agent run manifest") from None
    return verify_record(run_dir / manifest.get("record", RECORD), manifest.get("head"),
                         manifest.get("length"))
