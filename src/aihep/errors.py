"""One exception family for everything a user can get wrong.

The CLI prints ``str(error)`` on one line and exits non-zero; no traceback for user mistakes.
"""

from __future__ import annotations

from pathlib import Path


class AihepError(Exception):
    """Base class of all aihep errors meant for the user."""


class ConfigError(AihepError):
    """A configuration value (process, setting, count, option) is invalid."""


class InputError(AihepError):
    """An input file is missing, unreadable or not of the expected form.

    Args:
        path: the offending file.
        field: the column, key or part of the file that is wrong.
        expected: what was expected there, in words.
    """

    def __init__(self, path: str | Path, field: str, expected: str) -> None:
        self.path = Path(path)
        self.field = field
        self.expected = expected
        super().__init__(f"{self.path}: {field}: expected {expected}")


class OutputError(AihepError):
    """An output location cannot be written."""
