"""Free-form code execution for the agent, confined by the kernel, or not at all.

Off by default (the policy's ``allow_code_execution``). When enabled, a snippet of Python runs
in a separate process that

* has no network: a new, empty network namespace (``unshare --net``; even loopback is down);
* can write only inside its work directory in the run directory: a new mount namespace in
  which every mount is remounted read-only except a bind mount of the work directory;
* has rlimits: CPU time, address space, size of files written;
* is killed at a wall-time timeout; its output is truncated to a maximum size.

Where these mechanisms are unavailable (no ``unshare``, user namespaces disabled) the tool
refuses to run, rather than run unconfined: :class:`SandboxUnavailable`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import AihepError

# Runs inside the new namespaces: keep the work dir writable, remount everything else ro.
_CONFINE = r"""
set -e
mount --bind "$AIHEP_WORKDIR" "$AIHEP_WORKDIR"
for target in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$target" in
    "$AIHEP_WORKDIR"|/proc|/proc/*|/sys|/sys/*) ;;
    *) mount -o remount,bind,ro "$target" 2>/dev/null || true ;;
  esac
done
cd "$AIHEP_WORKDIR"
exec "$@"
"""


class SandboxUnavailable(AihepError):
    """The machine offers no way to confine code (network and file system): refuse."""


class SandboxConfig(BaseModel):
    """Limits of one code execution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(60.0, gt=0, description="wall time")
    cpu_seconds: int = Field(60, ge=1)
    memory_bytes: int = Field(4 * 2**30, gt=0)
    file_size_bytes: int = Field(256 * 2**20, gt=0, description="largest file written")
    max_output_bytes: int = Field(100_000, gt=0, description="stdout/stderr kept, each")


def _unshare_prefix() -> list[str]:
    flags = "--mount --net" if os.geteuid() == 0 else "--map-root-user --mount --net"
    return ["unshare", *flags.split()]


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """Why code cannot be confined here, or None when it can (probed once)."""
    if sys.platform != "linux":
        return f"confinement needs Linux namespaces (this is {sys.platform})"
    if shutil.which("unshare") is None:
        return "the 'unshare' command (util-linux) is not installed"
    try:
        probe = subprocess.run([*_unshare_prefix(), "sh", "-c", "mount --bind / / && true"],
                               capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if probe.returncode != 0:
        return ("new mount and network namespaces are not permitted here ("
                + probe.stderr.decode(errors="replace").strip() + ")")
    return None


def _limits(config: SandboxConfig):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (config.cpu_seconds, config.cpu_seconds + 2))
        resource.setrlimit(resource.RLIMIT_AS, (config.memory_bytes, config.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (config.file_size_bytes,
                                                   config.file_size_bytes))

    return apply


def run_code(code: str, workdir: Path, config: SandboxConfig | None = None) -> dict[str, Any]:
    """Run a Python snippet confined to ``workdir`` (no network, rlimits, timeout).

    Returns ``status`` (ok | failed | timeout), ``returncode``, ``stdout``, ``stderr`` (each
    truncated to ``max_output_bytes``), ``seconds`` and the snippet's path. Raises
    :class:`SandboxUnavailable` when confinement is impossible on this machine.
    """
    import signal

    config = config or SandboxConfig()
    problem = sandbox_problem()
    if problem is not None:
        msg = f"code execution refused: {problem}; aihep never runs code unconfined"
        raise SandboxUnavailable(msg)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    number = len(list(workdir.glob("snippet_*.py")))
    script = workdir / f"snippet_{number:03d}.py"
    script.write_text(code)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "TMPDIR": str(workdir / "tmp"), "OMP_NUM_THREADS": "1", "AIHEP_WORKDIR":
           str(workdir), "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    command = [*_unshare_prefix(), "sh", "-c", _CONFINE, "confine", sys.executable, "-I",
               script.name]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=_limits(config),
                               start_new_session=True)  # the timeout kills the whole group
    status = "ok"
    try:
        stdout, stderr = process.communicate(timeout=config.timeout_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        status = "timeout"
    if status == "ok" and process.returncode != 0:
        status = "failed"
    cut = config.max_output_bytes
    return {"status": status, "returncode": process.returncode,
            "stdout": stdout[:cut].decode(errors="replace"),
            "stderr": stderr[-cut:].decode(errors="replace"),
            "seconds": round(time.perf_counter() - start, 3), "script": str(script)}
