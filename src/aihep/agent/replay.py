"""Re-execute the recorded tool calls of an agent run and compare their outputs.

Each successful call in the (verified) provenance record is run again with its recorded
arguments; every path argument inside the recorded run directory is moved into the replay
directory, whatever its spelling (relative or absolute: paths are joined with the working
directory the run recorded). Every replayed call goes through a runner with the run's own
policy, its writable directory replaced by the replay directory: a call that would write
outside the replay directory, or read outside the run's read paths, is refused and nothing
of it runs. The replay keeps its own provenance record.

The SHA-256 of every recorded output file is compared with the new one. Manifests hold
creation times, training checkpoints and histories epoch durations, and HTML reports are
views drawn from the results files: these are compared apart. A JSON or JSON-lines result
that differs in bytes is compared again with its wall-clock fields removed (keys with a
``seconds``, ``minutes``, ``time``, ``date``, ``duration``, ``utc``, ``ms`` or ``hash`` part,
``prev``, or ending in ``per_second``: timings, and the hashes of records that chain them);
it then counts as identical ("normalized"). A step matches when every compared output is
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
from aihep.workflow.manifest import sha256_file
from aihep.workflow.provenance import read_entries

# files that hold creation or wall-clock times (manifests; training checkpoints and
# histories keep epoch durations): compared apart, they never decide a match
TIMESTAMPED = ("manifest.json", "checkpoint.pt", "train.ckpt", "history.json")
DERIVED_SUFFIXES = (".html",)  # reports drawn from compared results
WALL_CLOCK_PARTS = {"seconds", "minutes", "time", "date", "duration", "utc", "ms", "hash"}
CHAIN_KEYS = ("prev",)  # the previous entry's hash in a hash-chained record


def _wall_clock(key: str) -> bool:
    return (bool(WALL_CLOCK_PARTS & set(key.lower().split("_"))) or key in CHAIN_KEYS
            or key.endswith("per_second"))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not _wall_clock(str(k))}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def same_but_wall_clock(a: Path, b: Path) -> bool:
    """Whether two JSON / JSON-lines files agree once their wall-clock fields are removed."""
    import json

    def load(path: Path) -> Any:
        text = path.read_text()
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)

    try:
        return json.dumps(_strip(load(a)), sort_keys=True) == json.dumps(
            _strip(load(b)), sort_keys=True)
    except (OSError, ValueError):
        return False
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
    normalized: list[str] = field(default_factory=list)  # equal but for wall-clock fields

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tool": self.tool, "status": self.status,
                "identical": self.identical, "normalized": self.normalized,
                "differing": self.differing, "message": self.message}


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


def _moved(value: Any, move: Any) -> Any:
    """A path argument with its paths moved: a path, a list of paths, or a list of (path,
    label) pairs (only the path is moved)."""
    if isinstance(value, str):
        return move(value)
    if isinstance(value, list):
        return [[_moved(v[0], move), *v[1:]] if isinstance(v, list) and v else
                _moved(v, move) for v in value]
    return value


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
            if key in arguments:
                arguments[key] = _moved(arguments[key], move)
        result = runner.call(name, arguments, "replay")
        if result.status != "ok":
            status = "refused" if result.status == "refused" else "error"
            steps.append(ReplayStep(i, name, status, message=result.message))
            continue
        same, diff, normalized = [], [], []
        for path, digest in entry["outputs"].items():
            if Path(path).name in TIMESTAMPED or Path(path).suffix in DERIVED_SUFFIXES:
                continue
            moved = Path(move(path))
            if moved.is_file() and sha256_file(moved) == digest:
                same.append(path)
            elif moved.is_file() and Path(path).suffix in (".json", ".jsonl") and Path(
                    path).is_file() and sha256_file(path) == digest and same_but_wall_clock(
                    Path(path), moved):
                normalized.append(path)
            else:
                diff.append(path)
        steps.append(ReplayStep(i, name, "match" if not diff else "mismatch", same, diff,
                                normalized=normalized))
    report = replay_dir / REPORT
    from aihep._atomic import write_json_atomic

    write_json_atomic(report, [s.to_dict() for s in steps])
    return steps
