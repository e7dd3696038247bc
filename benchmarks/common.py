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


def seed_list(text: str) -> list[int]:
    """``--seeds``: a count ("3": seeds 1, 2, 3) or a comma-separated list ("2,3")."""
    if "," in text:
        return [int(s) for s in text.split(",") if s]
    return list(range(1, int(text) + 1))


def merged_rows(path: Path, rows: list[dict[str, Any]], seeds: list[int | None] | None,
                commit: str, key: str = "rows") -> list[dict[str, Any]]:
    """``rows`` of this run (stamped with its ``commit``) after the rows of an earlier run in
    ``path`` whose seeds this run does not repeat: a benchmark too long for one sitting runs
    seed by seed, and each row says which code it measured. ``seeds`` None: the earlier rows
    were measured on another setup and none is kept."""
    old = json.loads(path.read_text()) if path.is_file() and seeds is not None else {}
    kept = [{"commit": old.get("commit"), **r} for r in old.get(key, [])
            if r.get("seed") not in seeds]
    return kept + [{**r, "commit": commit} for r in rows]


def asymmetric_pull(value: float, lower: float, upper: float, truth: float
                    ) -> tuple[float, bool]:
    """Pull of ``value`` (errors ``lower`` < 0 < ``upper``) with the error on the side of the
    truth, and whether the 68% interval covers ``truth``."""
    error = upper if truth > value else -lower
    pull = (value - truth) / error if error > 0 else float("nan")
    return pull, bool(value + lower <= truth <= value + upper)
