"""Atomic file writes: write to a temporary file in the same directory, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aihep.errors import OutputError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    ensure_writable_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_atomic(target: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and atomically move the result to ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Atomically write a text file."""
    return write_atomic(target, lambda p: p.write_text(text))


def write_json_atomic(target: str | Path, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    return write_text_atomic(target, text)


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be created in it.

    Raises:
        OutputError: naming the directory when it cannot be created or written.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{path}: cannot create output directory ({exc.strerror or exc})"
        raise OutputError(msg) from None
    if not os.access(path, os.W_OK | os.X_OK):
        msg = f"{path}: output directory is not writable"
        raise OutputError(msg)
    return path


def save_torch_atomic(target: str | Path, obj: Any) -> Path:
    """``torch.save`` to ``target`` atomically, byte-for-byte reproducible: the archive is
    built in memory (torch names the archive's inner folder after the file it writes, so a
    temporary file name would change the bytes of identical weights)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    return write_atomic(target, lambda p: p.write_bytes(data))
