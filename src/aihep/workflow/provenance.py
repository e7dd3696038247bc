"""An append-only, hash-chained JSONL record of everything an agent run did.

Each line is one entry: time, actor (planner or model and its version), tool, arguments,
SHA-256 of input and output files, duration, status, ``prev`` (the hash of the previous entry)
and ``hash`` (SHA-256 of the canonical JSON of the entry without ``hash``). Editing,
deleting or reordering entries breaks the chain; truncating the record or recomputing the
whole chain is caught by comparing the last hash with the head stored outside the record
(the run manifest; also printed at the end of a run).

Three lines::

    record = ProvenanceRecord(run_dir / "provenance.jsonl")
    record.append(actor="playbook", tool="inspect", arguments={"path": "data.parquet"})
    verify_record(run_dir / "provenance.jsonl", expected_head=record.head)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep.errors import InputError
from aihep.workflow.manifest import sha256_file

GENESIS = "0" * 64


def canonical_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``entry`` without ``hash``."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class ProvenanceRecord:
    """Appends hash-chained entries to a JSONL file; resumes the chain of an existing file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.head = GENESIS
        self.length = 0
        if self.path.exists():
            result = verify_record(self.path)
            if not result.ok:
                raise InputError(self.path, "hash chain", f"an intact record ({result.problem})")
            self.head, self.length = result.head, result.length

    def append(self, actor: str, tool: str, arguments: dict[str, Any] | None = None,
               inputs: Sequence[str | Path] | None = None,
               outputs: Sequence[str | Path] | None = None,
               status: str = "ok", duration_s: float = 0.0,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write one entry (flushed and fsynced before returning) and return it."""
        entry: dict[str, Any] = {
            "index": self.length, "time": time.time(), "actor": actor, "tool": tool,
            "arguments": arguments or {},
            "inputs": {str(p): sha256_file(p) for p in inputs or [] if Path(p).is_file()},
            "outputs": {str(p): sha256_file(p) for p in outputs or [] if Path(p).is_file()},
            "status": status, "duration_s": duration_s, "extra": extra or {},
            "prev": self.head,
        }
        entry["hash"] = canonical_hash(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.head, self.length = entry["hash"], self.length + 1
        return entry


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_record`: ``ok``, the last hash, entry count, first problem."""

    ok: bool
    head: str
    length: int
    problem: str = ""
    outputs_checked: int = 0
    external_head: bool = False  # the head was compared with one kept outside the run

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "head": self.head, "length": self.length,
                "problem": self.problem, "outputs_checked": self.outputs_checked,
                "external_head": self.external_head}


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a record; a line that is not JSON is an :class:`InputError`."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(path, f"line {number}", "one JSON object per line") from None
        if not isinstance(entry, dict):
            raise InputError(path, f"line {number}", "a JSON object (an entry), got "
                             f"{type(entry).__name__}")
        entries.append(entry)
    return entries


def verify_record(path: str | Path, expected_head: str | None = None,
                  expected_length: int | None = None) -> VerifyResult:
    """Check the chain of a record and, when given, its head and length stored elsewhere.

    Detects edited entries (hash mismatch), deleted or reordered entries (``prev`` or
    ``index`` mismatch), truncation and wholesale recomputation (head or length differs
    from the stored ones).
    """
    if not Path(path).is_file():
        return VerifyResult(False, GENESIS, 0, f"{path}: the record is missing")
    try:
        entries = read_entries(path)
    except (InputError, OSError, UnicodeDecodeError) as error:
        return VerifyResult(False, GENESIS, 0, str(error))
    head = GENESIS
    for i, entry in enumerate(entries):
        if entry.get("hash") != canonical_hash(entry):
            return VerifyResult(False, head, i, f"entry {i} was modified (hash mismatch)")
        if entry.get("prev") != head or entry.get("index") != i:
            return VerifyResult(False, head, i, f"entry {i} does not follow entry {i - 1} "
                                "(deleted, inserted or reordered entries)")
        head = entry["hash"]
    if expected_length is not None and len(entries) != expected_length:
        return VerifyResult(False, head, len(entries), f"record has {len(entries)} entries, "
                            f"the manifest says {expected_length} (truncated or extended)")
    if expected_head is not None and head != expected_head:
        return VerifyResult(False, head, len(entries), "last hash differs from the stored "
                            "head (truncated, extended or recomputed record)")
    return VerifyResult(True, head, len(entries))
