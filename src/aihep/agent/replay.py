"""Re-execute the recorded tool calls of an agent run and compare their outputs.

Each successful call in the (verified) provenance record is run again with its recorded
arguments, output paths moved from the run directory into a replay directory; the SHA-256 of
every recorded output file is compared with the new one. Manifests hold creation times and
are compared apart: a step matches when every other output is bit-for-bit identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aihep.agent.provenance import file_sha256, read_entries
from aihep.agent.runner import RECORD, verify_run
from aihep.agent.tools import ToolRegistry, default_registry
from aihep.errors import AihepError, InputError

TIMESTAMPED = ("manifest.json",)


@dataclass(frozen=True)
class ReplayStep:
    """The comparison of one re-executed call."""

    index: int
    tool: str
    status: str  # match | mismatch | error | skipped
    identical: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tool": self.tool, "status": self.status,
                "identical": self.identical, "differing": self.differing,
                "message": self.message}


def _move(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old):]
    if isinstance(value, dict):
        return {k: _move(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_move(v, old, new) for v in value]
    return value


def replay(run_dir: str | Path, replay_dir: str | Path,
           registry: ToolRegistry | None = None) -> list[ReplayStep]:
    """Re-run every successful recorded call; outputs go under ``replay_dir``."""
    run_dir, replay_dir = Path(run_dir), Path(replay_dir)
    check = verify_run(run_dir)
    if not check.ok:
        raise InputError(run_dir / RECORD, "hash chain", f"an intact record ({check.problem})")
    registry = registry or default_registry()
    replay_dir.mkdir(parents=True, exist_ok=True)
    old, new = str(run_dir), str(replay_dir)
    steps = []
    for entry in read_entries(run_dir / RECORD):
        i, name = entry["index"], entry["tool"]
        if entry["status"] != "ok" or name not in registry.tools:
            continue  # refusals, failures and notes are not re-executed
        tool = registry.get(name)
        try:
            tool(tool.validate(_move(entry["arguments"], old, new)))
        except AihepError as exc:
            steps.append(ReplayStep(i, name, "error", message=str(exc)))
            continue
        same, diff = [], []
        for path, digest in entry["outputs"].items():
            moved = Path(_move(path, old, new))
            if Path(path).name in TIMESTAMPED:
                continue
            ok = moved.is_file() and file_sha256(moved) == digest
            (same if ok else diff).append(path)
        steps.append(ReplayStep(i, name, "match" if not diff else "mismatch", same, diff))
    report = replay_dir / "replay.json"
    report.write_text(json.dumps([s.to_dict() for s in steps], indent=2) + "\n")
    return steps
