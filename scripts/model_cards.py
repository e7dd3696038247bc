"""Render the model cards of an expert registry as a Markdown page (docs/models.md).

Usage: python scripts/model_cards.py [--registry DIR] [--out docs/models.md] [--keep]

``--keep`` keeps the cards already on the page whose model is not in this registry (a
registry is a local cache: the models of an earlier machine may be gone, their cards not).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aihep.workflow.models import ModelRegistry

HEADER = """# Model cards

The expert models registered from aihep's benchmark runs (`aihep models list`), rendered
from their cards by `python scripts/model_cards.py`. Register your own with
`aihep models register RUN --name NAME` (see [the agent](agent.md#expert-models)); the agent
finds them by task and input schema (`find_experts`) and calls them (`run_expert`).

"""


def kept_sections(page: str, names: set[str]) -> dict[str, str]:
    """The ``## name (vN)`` sections of an earlier page whose name is not in ``names``."""
    sections = {}
    for block in page.split("\n## ")[1:]:
        name = block.split(" (v", 1)[0]
        if name not in names:
            sections[name] = "## " + block.rstrip("\n") + "\n\n"
    return sections


def render(cards, kept: dict[str, str] | None = None) -> str:
    parts = [HEADER]
    kept = kept or {}
    if not cards and not kept:
        parts.append("No model is registered yet.\n")
    rendered = {card.name: card_section(card) for card in cards} | kept
    parts.extend(rendered[name] for name in sorted(rendered))
    return "".join(parts)


def card_section(card) -> str:
    parts = []
    c = card.model_dump(mode="json")
    parts.append(f"## {c['name']} (v{c['version']})\n\n")
    rows = [("area", c["area"]), ("task", c["task"]), ("input schema", c["input_schema"]),
            ("kind", f"`{c['kind']}`"), ("licence", c["licence"]),
            ("benchmark commit", c["benchmark_commit"] or "-"),
            ("size", ", ".join(f"{k}: {v}" for k, v in c["size"].items()) or "-"),
            ("intended use", c["intended_use"]), ("limits", c["limits"])]
    parts.append("| field | value |\n|---|---|\n" + "".join(
        f"| {k} | {table_cell(v)} |\n" for k, v in rows))
    parts.append("\n**Inputs**\n\n" + "".join(f"- `{k}`: {v}\n"
                                              for k, v in c["inputs"].items()))
    parts.append("\n**Outputs**\n\n" + "".join(f"- `{k}`: {v}\n"
                                               for k, v in c["outputs"].items()))
    metrics = {k: v for k, v in c["metrics"].items() if not isinstance(v, dict | list)}
    if metrics:
        parts.append("\n**Metrics**\n\n| metric | value |\n|---|---|\n" + "".join(
            f"| {k} | {v:.4g} |\n" if isinstance(v, float) else f"| {k} | {v} |\n"
            for k, v in metrics.items()))
    data = c["training_data"]
    if data:
        shown = short_paths([d["path"] for d in data])
        parts.append("\n**Training data**\n\n" + "".join(
            f"- `{name}` sha256 `{d.get('sha256', '')[:16]}...`\n"
            for name, d in zip(shown, data, strict=True)))
    parts.append("\n")
    return "".join(parts)


def table_cell(value) -> str:
    """A value for a Markdown table cell (a '|' in the text escaped)."""
    return str(value).replace("|", "\\|")


def short_paths(paths: list[str]) -> list[str]:
    """The shortest path tails that tell the files apart (a name shared by several inputs,
    e.g. candidates.npz, is shown with as many of its folders as it takes)."""
    parts = [Path(p).parts for p in paths]
    for k in range(1, max((len(x) for x in parts), default=1) + 1):
        shown = ["/".join(x[-k:]) for x in parts]
        if len(set(shown)) == len(shown):
            return shown
    return [str(p) for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/models.md"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the cards on the page of models not in this registry")
    args = parser.parse_args()
    cards = ModelRegistry(args.registry).cards()
    kept = (kept_sections(args.out.read_text(), {c.name for c in cards})
            if args.keep and args.out.is_file() else {})
    args.out.write_text(render(cards, kept))
    print(json.dumps({"cards": [c.name for c in cards], "kept": sorted(kept),
                      "out": str(args.out)}))


if __name__ == "__main__":
    main()
