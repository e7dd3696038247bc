"""Runs tool calls under a policy and records each one (accepted, refused or failed).

Every call goes: validate the arguments against the tool schema -> check the policy ->
execute -> append a provenance entry with input/output file hashes, duration and status.
The head hash and length of the record are kept in ``agent_manifest.json`` in the run
directory (written atomically after every call), so `aihep agent verify RUN` can tell an
intact record from an edited, truncated or recomputed one.

Tools marked ``job`` run as monitored jobs (:mod:`aihep.agent.jobs`: a child process with the
policy's CPU-time and memory rlimits, a wall-time timeout, bounded retries with backoff).

Resume: a runner opened on a run directory that already holds a record (an agent that crashed
or was stopped) first verifies it against the manifest, then answers a call identical to one
that completed before (same tool, same arguments, every recorded output file unchanged) from
the record instead of running it again, and records that it did (status ``reused``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep.agent.jobs import JobConfig, run_job
from aihep.agent.policy import PermissionDenied, Policy
from aihep.agent.tools import ToolError, ToolRegistry
from aihep.errors import AihepError
from aihep.workflow.manifest import sha256_file
from aihep.workflow.provenance import (
    ProvenanceRecord,
    VerifyResult,
    read_entries,
    verify_record,
)

RECORD = "provenance.jsonl"
PICKLED = (".pkl", ".pt", ".ckpt")  # files a tool may unpickle (runs, checkpoints)
MANIFEST = "agent_manifest.json"


@dataclass(frozen=True)
class CallResult:
    """What one call returned, or why it did not run."""

    tool: str
    status: str  # ok | refused | invalid | error | timeout | cpu-limit | crashed
    output: Any = None
    message: str = ""
    reused: bool = False


class ToolRunner:
    """Executes validated, permitted tool calls and records them in the run directory."""

    def __init__(self, registry: ToolRegistry, policy: Policy,
                 jobs: JobConfig | None = None) -> None:
        from aihep.errors import InputError

        self.registry = registry
        self.policy = policy
        self.jobs = jobs or JobConfig()
        from aihep._atomic import ensure_writable_dir

        self.run_dir = ensure_writable_dir(policy.run_dir)
        if (self.run_dir / RECORD).exists():
            check = verify_run(self.run_dir, check_outputs=False)
            if not check.ok:
                raise InputError(self.run_dir / RECORD, "hash chain",
                                 f"an intact record to resume ({check.problem})")
        self.record = ProvenanceRecord(self.run_dir / RECORD)
        self.calls = self.record.length  # a resumed run keeps counting
        self.completed = _completed_calls(self.run_dir / RECORD)
        self.last_attempts: list[dict[str, Any]] | None = None

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
            self._check_pickles(tool, parsed)
        except PermissionDenied as exc:
            return self._done(actor, tool_name, arguments,
                              CallResult(tool_name, "refused", message=str(exc)), start)
        inputs = [p for p in tool.paths(parsed, "reads") if p.is_file()]
        recorded = parsed.model_dump(mode="json")
        previous = self._reusable(tool_name, recorded)
        if previous is not None:
            result = CallResult(tool_name, "ok", previous["extra"].get("output"), reused=True)
            self._append(actor, tool_name, recorded, inputs, [Path(p) for p in
                         previous["outputs"]], "reused", time.perf_counter() - start,
                         {"from_entry": previous["index"], "output": result.output})
            self.calls += 1
            return result
        result = self._execute(tool, parsed)
        outputs = []
        for path in tool.paths(parsed, "writes"):
            outputs += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() \
                else [path]
        return self._done(actor, tool_name, recorded, result, start, inputs, outputs)

    def _check_pickles(self, tool: Any, parsed: Any) -> None:
        """Pickles run code when loaded (boosted-tree runs, training checkpoints a tool
        resumes from): under the run directory, where confined code may write, a call goes
        ahead only if every such file in the run directories it loads or the folders a job
        writes (and may resume in) holds bytes an aihep tool of this run wrote (a recorded
        output of a tool that runs no code, whatever its status: a killed training's
        checkpoint counts); the user's own read paths are trusted."""
        if tool.executes_code:  # confined itself
            return
        run_dir = self.run_dir.resolve()
        found = []
        resumable = tool.paths(parsed, "writes") if tool.job else []  # long jobs resume
        for path in (*tool.paths(parsed, "pickles"), *resumable):
            files = sorted(path.rglob("*")) if path.is_dir() else [path]
            found += [f for f in files if f.suffix in PICKLED and f.is_file()
                      and run_dir in f.resolve().parents]
        if not found:
            return
        record = self.run_dir / RECORD
        written = {digest for e in (read_entries(record) if record.is_file() else [])
                   if e["tool"] in self.registry.tools
                   and not self.registry.get(e["tool"]).executes_code
                   for digest in e["outputs"].values()}
        for f in found:
            if sha256_file(f) not in written:
                msg = (f"policy: {f} may be a pickle (loading one runs code) and no aihep "
                       "tool of this run wrote it; use another folder")
                raise PermissionDenied(msg)

    def _execute(self, tool: Any, parsed: Any) -> CallResult:
        """Run the call inline, or as a monitored job with the policy's limits."""
        context = {name: getattr(self.policy, name) for name in tool.from_policy}
        if not tool.job or self.jobs.kind == "inline":
            try:
                return CallResult(tool.name, "ok", tool(parsed, context))
            except AihepError as exc:
                return CallResult(tool.name, "error", message=str(exc))
        cpu = min(tool.cpu_seconds, self.policy.max_cpu_seconds_per_call)
        # the process server imports every job tool's module once, before the first job
        modules = tuple(sorted({t.function.__module__ for t in self.registry.tools.values()
                                if t.job}))
        config = self.jobs.model_copy(update={
            "preload": self.jobs.preload or modules,
            "cpu_seconds": self.jobs.cpu_seconds or cpu,
            "memory_bytes": self.jobs.memory_bytes or self.policy.max_memory_bytes_per_call})
        outcome = run_job(tool.function, {**tool.call_arguments(parsed), **context}, config)
        self.last_attempts = outcome.attempts
        return CallResult(tool.name, outcome.status, outcome.output, outcome.message)

    def _reusable(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """A completed entry of an earlier session with these arguments and intact outputs."""
        for entry in reversed(self.completed):
            if entry["tool"] != tool or entry["arguments"] != arguments:
                continue
            if all(Path(p).is_file() and sha256_file(p) == digest
                   for p, digest in entry["outputs"].items()):
                return entry
        return None

    def _done(self, actor: str, tool: str, arguments: dict[str, Any], result: CallResult,
              start: float, inputs: list[Path] | None = None,
              outputs: list[Path] | None = None) -> CallResult:
        extra: dict[str, Any] = {"message": result.message}
        if result.status == "ok":
            extra["output"] = result.output
        if self.last_attempts:
            extra["attempts"], self.last_attempts = self.last_attempts, None
        self._append(actor, tool, arguments, inputs, outputs, result.status,
                     time.perf_counter() - start, extra)
        self.calls += 1
        return result

    def note(self, actor: str, event: str, arguments: dict[str, Any],
             extra: dict[str, Any] | None = None,
             outputs: list[Path] | None = None) -> None:
        """Record something that is not a tool call (a memory read, the final answer, files
        written by the orchestrator, hashed like tool outputs)."""
        self._append(actor, event, arguments, None, outputs, "ok", 0.0, extra or {})

    def _append(self, actor: str, tool: str, arguments: dict[str, Any],
                inputs: list[Path] | None, outputs: list[Path] | None, status: str,
                duration: float, extra: dict[str, Any]) -> None:
        from aihep._atomic import write_json_atomic

        self.record.append(actor, tool, arguments, inputs, outputs, status, duration, extra)
        write_json_atomic(self.run_dir / MANIFEST, {
            "record": RECORD, "head": self.record.head, "length": self.record.length,
            "cwd": os.getcwd(), "run_dir_abs": _absolute(self.run_dir),
            "policy": self.policy.model_dump(mode="json")})


def _completed_calls(record: Path) -> list[dict[str, Any]]:
    """Entries of completed tool calls (status ok) of an existing record, oldest first."""
    if not record.exists():
        return []
    return [e for e in read_entries(record) if e["status"] == "ok" and "output" in e["extra"]]


def _absolute(path: str | Path, cwd: str | None = None) -> str:
    """``path`` made absolute against ``cwd`` (default: this process's), without resolving
    symbolic links: the spelling of a path in a record, joined with the recorded cwd."""
    return os.path.normpath(os.path.join(cwd or os.getcwd(), str(path)))


def read_run_manifest(run_dir: str | Path) -> tuple[dict[str, Any], str]:
    """The run manifest and, when it is missing or damaged, why (else an empty string)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return {}, f"{path}: the run manifest is missing"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path}: not a readable JSON manifest ({exc})"
    if not isinstance(manifest, dict):
        return {}, f"{path}: expected a JSON object, got {type(manifest).__name__}"
    head, length = manifest.get("head"), manifest.get("length")
    if not isinstance(head, str) or not isinstance(length, int) or isinstance(length, bool):
        return {}, (f"{path}: the stored head and length are missing or malformed (an "
                    "edited manifest)")
    return manifest, ""


def locate(recorded: str, run_dir: str | Path, manifest: dict[str, Any],
           new_root: str | Path | None = None) -> Path:
    """Where a path recorded in a run is now.

    A recorded path is joined with the working directory of the run (``cwd`` in the
    manifest); one inside the recorded run directory is moved to ``new_root`` (default: the
    run directory as given now, so a moved run still verifies). Relative and absolute
    spellings of the same place give the same answer.
    """
    cwd = manifest.get("cwd") if isinstance(manifest.get("cwd"), str) else None
    policy_dir = (manifest.get("policy") or {}).get("run_dir") if isinstance(
        manifest.get("policy"), dict) else None
    root_text = manifest.get("run_dir_abs") or _absolute(policy_dir or run_dir, cwd)
    target = Path(new_root if new_root is not None else run_dir)
    candidates = [(Path(_absolute(recorded, cwd)), Path(str(root_text)))]
    with contextlib.suppress(OSError):
        candidates.append((candidates[0][0].resolve(), Path(str(root_text)).resolve()))
    for path, root in candidates:
        if path == root or root in path.parents:
            return target / path.relative_to(root)
    return candidates[0][0]


def check_recorded_outputs(run_dir: str | Path, entries: list[dict[str, Any]],
                           manifest: dict[str, Any]) -> tuple[int, list[str]]:
    """Re-hash every output file the record lists (its last recorded digest).

    Returns (files checked, problems: files missing or changed since they were recorded).
    """
    latest: dict[str, str] = {}
    for entry in entries:
        outputs = entry.get("outputs")
        if isinstance(outputs, dict):
            latest.update({str(k): str(v) for k, v in outputs.items()})
    problems = []
    for recorded, digest in latest.items():
        path = locate(recorded, run_dir, manifest)
        if not path.is_file():
            problems.append(f"{recorded}: recorded output is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{recorded}: changed since it was recorded (SHA-256 differs)")
    return len(latest), problems


def verify_run(run_dir: str | Path, expected_head: str | None = None,
               check_outputs: bool = True) -> VerifyResult:
    """Check a run: the record's chain, its length and head against the manifest and (when
    given) against ``expected_head`` kept outside the run, and every recorded output file.

    A damaged or missing record or manifest is a failed check (``ok`` False with the
    problem), never an exception. Only an external head catches a forger who rewrote the
    record, re-chained it and updated the manifest.
    """
    from aihep.errors import InputError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(run_dir, "directory", "an agent run directory")
    manifest, problem = read_run_manifest(run_dir)
    record = run_dir / RECORD
    if problem:
        chain = verify_record(record)
        return VerifyResult(False, chain.head, chain.length, problem)
    result = verify_record(record, manifest["head"], manifest["length"])
    if not result.ok:
        return result
    if expected_head is not None and result.head != expected_head.strip():
        return VerifyResult(False, result.head, result.length, "last hash differs from the "
                            "head kept outside the run (a rewritten, re-chained record)")
    if not check_outputs:
        return result
    n_checked, problems = check_recorded_outputs(run_dir, read_entries(record), manifest)
    if problems:
        return VerifyResult(False, result.head, result.length, "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""), n_checked)
    return VerifyResult(True, result.head, result.length, "", n_checked,
                        expected_head is not None)
