"""The audit report of an agent run, drawn from the rows and answer it is given
(:mod:`aihep.agent.audit` reads and verifies the record)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from aihep._atomic import write_atomic
from aihep.report.html import table_html, write_report


def write_audit(out: Path, name: str, rows: list[dict[str, Any]], answer: dict[str, Any],
                head: str) -> None:
    """Write ``audit.md`` and ``audit.html`` into ``out``: one row per recorded entry."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Audit of agent run {name}", "",
          f"Record intact: {len(rows)} entries, head `{head}`.", "",
          "| # | actor | tool | status | seconds | inputs | outputs | note |",
          "|---|---|---|---|---|---|---|---|",
          *["| " + " | ".join(str(r[k]).replace("|", "/") for k in r) + " |" for r in rows],
          "", "## Answer", "", "```json", json.dumps(answer, indent=2, default=str), "```"]
    write_atomic(out / "audit.md", lambda tmp: tmp.write_text("\n".join(md) + "\n"))
    write_report(out / "audit.html", f"Audit of agent run {name}", [
        ("Record", f"<p>Intact: {len(rows)} entries, head <code>{head}</code>.</p>"
                   + table_html(rows)),
        ("Answer", "<pre>" + html.escape(json.dumps(answer, indent=2, default=str))
                   + "</pre>")])
