"""What every benchmark result carries: the code measured (git commit) and when."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent


def git_commit() -> str:
    """Short hash of the checked-out commit (take it when the run starts)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True, check=False).stdout.strip()


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_result(path: Path, result: dict[str, Any], commit: str | None = None) -> Path:
    """Write ``result`` as JSON atomically (a temporary file renamed over ``path``), stamped
    with the git ``commit`` measured (default: the result's own, else the checked-out one)
    and the UTC ``date``. A result merged with an older file's content must pass ``commit``,
    or the older file's commit would be kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"commit": commit or result.get("commit") or git_commit(), "date": utc_now(),
              **{k: v for k, v in result.items() if k not in ("commit", "date")}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=float) + "\n")
    tmp.replace(path)
    return path
