"""The package's structure: imports follow the layers, the documentation site builds."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "aihep"
# low -> high; top-level modules (errors, _atomic, ...) may be imported from anywhere; a package
# not named here is a task package (discovery, tagging, reco, ...)
LAYERS = {"nn": 0, "workflow": 1, "io": 2, "events": 3, "report": 5, "agent": 6, "cli": 7,
          "__main__": 8}
TASK = 4


def _imports() -> dict[str, set[str]]:
    """Module -> the aihep modules it imports (anywhere in the file, lazy imports too)."""
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (".".join([*package[:len(package) - node.level + 1], node.module or ""])
                        if node.level else node.module or "").rstrip(".")
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                # a package's __init__ re-exporting its own children is its face, not a layer
                if target in modules and target != name and not (
                        path.name == "__init__.py" and target.startswith(name + ".")):
                    edges[name].add(target)
    return edges


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] not in LAYERS and not (
            SRC / parts[1]).is_dir()):
        return -1  # aihep, aihep.errors, aihep._atomic: usable from every layer
    return LAYERS.get(parts[1], TASK)


def _upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets
                  if a != "aihep" and _rank(a) < _rank(b))


def _cycles(edges: dict[str, set[str]]) -> list[str]:
    edges = {k: v for k, v in edges.items() if k != "aihep"}  # the face re-exports
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_runs_against_the_layers_and_no_cycles():
    edges = _imports()
    upward = _upward(edges)
    assert upward == [], "imports against nn < workflow < io < events < tasks < report < " \
                         "agent < cli:\n" + "\n".join(upward)
    assert _cycles(edges) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    edges = _imports()
    bad = {**edges, "aihep.io.lhco": edges["aihep.io.lhco"] | {"aihep.events.features"}}
    assert _upward(bad) == ["aihep.io.lhco -> aihep.events.features"]
    assert _cycles(bad) == ["aihep.events.features -> aihep.io.lhco -> aihep.events.features"]
    assert _upward({"aihep.discovery.hunt": {"aihep.errors", "aihep._atomic"}}) == []


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs not installed (pip install -e '.[docs]')")
def test_documentation_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    run = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()
