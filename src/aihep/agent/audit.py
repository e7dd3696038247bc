"""The audit of an agent run: every recorded step, its status and files, the answer.

Built from the provenance record alone (verified against the run manifest first), so it shows
what the run did, not what a planner claims it did; :mod:`aihep.report.agent` draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aihep.agent.runner import RECORD, verify_run
from aihep.errors import InputError
from aihep.workflow.provenance import read_entries


def write_agent_report(run: Path, out: Path) -> dict[str, Any]:
    """Write ``audit.md`` and ``audit.html`` of an agent run into ``out``; return a summary."""
    from aihep.report.agent import write_audit

    run, out = Path(run), Path(out)
    check = verify_run(run)
    if not check.ok:
        raise InputError(run / RECORD, "hash chain", f"an intact record ({check.problem})")
    entries = read_entries(run / RECORD)
    rows = [{"#": e["index"], "actor": e["actor"], "tool": e["tool"], "status": e["status"],
             "seconds": round(e["duration_s"], 2), "inputs": len(e["inputs"]),
             "outputs": len(e["outputs"]),
             "note": (e["extra"].get("message") or "").splitlines()[0][:120]
             if e["extra"].get("message") else ""} for e in entries]
    answers = [e["extra"] for e in entries if e["tool"] == "answer"]
    answer = answers[-1] if answers else {}
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    write_audit(out, run.name, rows, answer, check.head)
    return {"run": str(run), "entries": len(entries), "head": check.head,
            "statuses": counts, "answer": answer}
