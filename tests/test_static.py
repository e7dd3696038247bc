"""Static checks of the source tree: ruff (style, no prints, error messages) and mypy (types,
pydantic's plugin; configuration in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff comes with the test extra")
    result = _run("ruff", "check", "--no-cache", "src", "tests", "benchmarks", "scripts")
    assert result.returncode == 0, result.stdout[-4000:]


def test_package_type_checks(tmp_path):
    pytest.importorskip("mypy", reason="mypy comes with the test extra")
    result = _run("mypy", "--cache-dir", str(tmp_path / "mypy"), "src/aihep")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Success" in result.stdout
