"""Re-execute the recorded tool calls of an agent run and compare their outputs.

Each successful call in the (verified) provenance record is run again with its recorded
arguments; every path argument inside the recorded run directory is moved into the replay
directory, whatever its spelling (relative or absolute: paths are joined with the working
directory the run recorded). Every replayed call goes through a runner with the run's own
policy, its writable directory replaced by the replay directory: a call that would write
outside the replay directory, or read outside the run's read paths, is refused and nothing
of it runs. The replay keeps its own provenance record.

The SHA-256 of every recorded output file is compared with the new one. Manifests hold
creation times and are compared apart: a step matches when every other output is bit-for-bit
identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aihep.agent.jobs import JobConfig
from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import RECORD, ToolRunner, locate, read_run_manifest, verify_run
from aihep.agent.tools import ToolRegistry
from aihep.errors import ConfigError, InputError, OutputError
from aihep.workflow.provenance import file_sha256, read_entries

TIMESTAMPED = ("manifest.json",)
REPORT = "replay.json"


@dataclass(frozen=True)
class ReplayStep:
    """The comparison of one re-executed call."""

    index: int
    tool: str
    status: str  # match | mismatch | error | refused
    identical: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tool": self.tool, "status": self.status,
                "identical": self.identical, "differing": self.differing,
                "message": self.message}


def _check_directories(run_dir: Path, replay_dir: Path, force: bool) -> None:
    run, new = run_dir.resolve(), replay_dir.resolve()
    if new == run or run in new.parents or new in run.parents:
        msg = (f"{replay_dir}: the replay directory must lie outside the run directory "
               f"{run_dir} (and not contain it): a replay never writes into the run")
        raise ConfigError(msg)
    if replay_dir.is_file():
        msg = f"{replay_dir}: is a file; the replay needs a directory"
        raise OutputError(msg)
    if replay_dir.is_dir() and any(replay_dir.iterdir()) and not force:
        msg = (f"{replay_dir}: not empty; choose a new directory or pass --force to replay "
               "into it")
        raise OutputError(msg)


def replay(run_dir: str | Path, replay_dir: str | Path,
           registry: ToolRegistry | None = None, force: bool = False) -> list[ReplayStep]:
    """Re-run every successful recorded call under the run's policy; outputs go under
    ``replay_dir`` only."""
    run_dir, replay_dir = Path(run_dir), Path(replay_dir)
    check = verify_run(run_dir, check_outputs=False)
    if not check.ok:
        raise InputError(run_dir / RECORD, "hash chain", f"an intact record ({check.problem})")
    _check_directories(run_dir, replay_dir, force)
    manifest, _ = read_run_manifest(run_dir)
    try:
        recorded = Policy.model_validate(manifest.get("policy") or {})
    except ValueError:
        raise InputError(run_dir / "agent_manifest.json", "policy", "the run's policy"
                         ) from None

    def move(value: str) -> str:
        return str(locate(value, run_dir, manifest, new_root=replay_dir))

    entries = read_entries(run_dir / RECORD)
    policy = recorded.model_copy(update={
        "run_dir": replay_dir, "read_paths": tuple(Path(move(str(p)))
                                                   for p in recorded.read_paths),
        "max_calls": max(recorded.max_calls, 2 * len(entries) + 1)})
    registry = registry or default_registry()
    runner = ToolRunner(registry, policy, JobConfig(kind="inline"))
    steps = []
    for entry in entries:
        i, name = entry["index"], entry["tool"]
        if entry["status"] != "ok" or name not in registry.tools:
            continue  # refusals, failures and notes are not re-executed
        tool = registry.get(name)
        arguments = dict(entry["arguments"])
        for key in (*tool.reads, *tool.writes):
            if isinstance(arguments.get(key), str):
                arguments[key] = move(arguments[key])
        result = runner.call(name, arguments, "replay")
        if result.status != "ok":
            status = "refused" if result.status == "refused" else "error"
            steps.append(ReplayStep(i, name, status, message=result.message))
            continue
        same, diff = [], []
        for path, digest in entry["outputs"].items():
            if Path(path).name in TIMESTAMPED:
                continue
            moved = Path(move(path))
            ok = moved.is_file() and file_sha256(moved) == digest
            (same if ok else diff).append(path)
        steps.append(ReplayStep(i, name, "match" if not diff else "mismatch", same, diff))
    report = replay_dir / REPORT
    from aihep._atomic import write_json_atomic

    write_json_atomic(report, [s.to_dict() for s in steps])
    return steps
