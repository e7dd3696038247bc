"""Worker and job processes that start warm: a forkserver that imported the heavy modules once.

A ``spawn`` process is a fresh interpreter that imports numpy, torch, scikit-learn and the
toolkit again before it does any work: 3-7 s per process on 2-core machines, paid by every
agent tool call and every local worker. On Linux aihep starts its processes from a
*forkserver* instead: a clean interpreter, started once per parent process, that imports the
modules named when it starts (``preload``) and forks each new process from that state. Nothing
of the parent's memory is inherited (as with ``spawn``). multiprocessing hands each process the
parent's working directory, ``sys.path`` and main module, as for ``spawn``; what else a
``spawn`` child would have taken from the parent at its start is handed over explicitly
(:class:`ParentState`): the environment, the warning options of ``PYTHONWARNINGS``, and
standard output and error (the parent's *current* descriptors, so output captured or
redirected after the server started still reaches the right place).

The server is shared by the whole parent process, so the first caller's ``preload`` holds for
the rest of its life; modules not preloaded are imported by each process as with ``spawn``.
Set ``AIHEP_START_METHOD=spawn`` to start every process with ``spawn`` (and elsewhere than
Linux it always is).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from aihep.errors import ConfigError

_preloaded: tuple[str, ...] | None = None


def start_method() -> str:
    """``forkserver`` on Linux unless ``AIHEP_START_METHOD=spawn``; else ``spawn``."""
    wanted = os.environ.get("AIHEP_START_METHOD", "forkserver")
    if wanted not in ("forkserver", "spawn"):
        msg = (f"environment variable AIHEP_START_METHOD: expected 'forkserver' or 'spawn', "
               f"not {wanted!r}")
        raise ConfigError(msg)
    return "forkserver" if wanted == "forkserver" and sys.platform.startswith("linux") \
        else "spawn"


def process_context(preload: Iterable[str] = ()) -> BaseContext:
    """The multiprocessing context for new processes; starts the forkserver (importing
    ``preload``, module names) if this process has none yet."""
    global _preloaded

    if start_method() == "spawn":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    if _preloaded is None:
        _preloaded = tuple(dict.fromkeys(preload))
        context.set_forkserver_preload(list(_preloaded))
        # the server's own warning filters stay the interpreter's defaults: each process
        # applies the PYTHONWARNINGS it is handed (ParentState), as a spawned one would
        options = os.environ.pop("PYTHONWARNINGS", None)
        try:
            from multiprocessing import forkserver

            forkserver.ensure_running()
        finally:
            if options is not None:
                os.environ["PYTHONWARNINGS"] = options
    return context


class _Descriptor:
    """A file descriptor of the parent, duplicated into the child when it starts (pickled
    while the process starts, through multiprocessing's own descriptor passing)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        from multiprocessing import reduction

        return _received, (reduction.DupFd(self.fd),)


def _received(duplicate: Any) -> int:
    return int(duplicate.detach())


@dataclass(frozen=True)
class ParentState:
    """What a ``spawn`` child takes from its parent at start, for a forked one to adopt."""

    environ: dict[str, str]
    stdout: Any
    stderr: Any

    @classmethod
    def capture(cls) -> ParentState:
        """The calling process's state now (call it just before starting the process)."""
        sys.stdout.flush()
        sys.stderr.flush()
        return cls(dict(os.environ), _Descriptor(1), _Descriptor(2))

    def adopt(self) -> None:
        """In the new process: take the parent's environment, warning options and standard
        output / error."""
        os.environ.clear()
        os.environ.update(self.environ)
        for target, fd in ((1, self.stdout), (2, self.stderr)):
            if isinstance(fd, int):
                os.dup2(fd, target)
                os.close(fd)
        setoption = getattr(warnings, "_setoption", None)  # what the interpreter uses at start
        options = [o for o in self.environ.get("PYTHONWARNINGS", "").split(",") if o.strip()]
        for option in options:
            if setoption is not None:
                try:
                    setoption(option.strip())
                except Exception:
                    continue  # the interpreter warns and skips a malformed option too
            elif ":" not in option:
                warnings.simplefilter(option.strip())  # type: ignore[arg-type]


def adopt_parent_state(state: ParentState | None) -> None:
    """Process initializer: adopt ``state`` (``None``: a spawned process, nothing to do)."""
    if state is not None:
        state.adopt()


def parent_state(context: BaseContext) -> ParentState | None:
    """The state to hand to a process of ``context`` (``None`` for ``spawn``)."""
    return ParentState.capture() if context.get_start_method() == "forkserver" else None
