"""Free-form code execution for the agent, confined by the kernel, or not at all.

Off by default (the policy's ``allow_code_execution``). When enabled, a snippet of Python runs
in a separate process that

* has no network: a new, empty network namespace (``unshare --net``; even loopback is down);
* sees only its work directory (writable), the policy's read paths and the Python runtime
  (read-only): a new mount namespace with an empty root holding bind mounts of those paths
  alone, entered with chroot, and run without capabilities (no way out of the chroot);
  every other file does not exist for the snippet;
* has rlimits: CPU time, address space, size of files written;
* is killed at a wall-time timeout; its output is truncated to a maximum size.

Where these mechanisms are unavailable (no ``unshare``, user namespaces disabled) the tool
refuses to run, rather than run unconfined: :class:`SandboxUnavailable`.
"""

from __future__ import annotations

import contextlib
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

# Runs inside the new namespaces: an empty root (tmpfs) holding read-only bind mounts of the
# Python runtime, the system libraries and the policy's read paths, plus the work directory
# (writable); chroot into it and drop every capability (so no chroot escape, no mount, no
# mknod, no ptrace of the host's processes). Nothing else of the file system exists.
_CONFINE = r"""
set -e
root="$AIHEP_WORKDIR/.sandbox-root"
mkdir -p "$root"
mount -t tmpfs -o mode=755 aihep-sandbox "$root"
bind() {
  src="$1"
  if [ -L "$src" ] && [ "$(dirname "$src")" = / ]; then
    ln -s "$(readlink "$src")" "$root$src"; return 0
  fi
  if [ -d "$src" ]; then mkdir -p "$root$src"
  else mkdir -p "$root$(dirname "$src")"; : > "$root$src"; fi
  mount --bind "$src" "$root$src"
  if [ "$2" != rw ]; then mount -o remount,bind,ro "$root$src"; fi
}
printf '%s\n' "$AIHEP_READ" | while IFS= read -r path; do
  if [ -n "$path" ] && [ -e "$path" ]; then bind "$path"; fi
done
bind "$AIHEP_WORKDIR" rw
for dev in null zero random urandom; do bind "/dev/$dev" rw; done
mkdir -p "$root/tmp"
mount -o remount,ro "$root"
exec chroot "$root" setpriv --no-new-privs --bounding-set -all --inh-caps -all \
  /bin/sh -c 'cd "$AIHEP_WORKDIR" && exec "$@"' confined "$@"
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
    for tool in ("unshare", "chroot", "setpriv"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"the '{tool}' command (util-linux) is not installed"
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


SYSTEM_PATHS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc/ld.so.cache",
                "/etc/localtime")


def runtime_paths() -> list[str]:
    """What the snippet's Python needs to start, read-only: the system libraries, the
    interpreter and its packages (the virtual environment, an editable aihep)."""
    import aihep

    paths = [*SYSTEM_PATHS, sys.base_prefix, sys.prefix, sys.exec_prefix,
             str(Path(aihep.__file__).resolve().parent.parent)]
    paths += [p for p in sys.path if p and Path(p).is_dir() and not any(
        Path(p).is_relative_to(q) for q in (sys.base_prefix, sys.prefix))]
    return list(dict.fromkeys(os.path.abspath(p) for p in paths))


def run_code(code: str, workdir: Path, config: SandboxConfig | None = None,
             read_paths: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Run a Python snippet confined to ``workdir`` (no network, rlimits, timeout).

    The snippet sees only ``workdir`` (writable), ``read_paths`` (the policy's, read-only)
    and the Python runtime (read-only): every other file does not exist for it.

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
    readable = [*runtime_paths(), *(os.path.abspath(p) for p in read_paths)]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(workdir),
           "TMPDIR": str(workdir / "tmp"), "OMP_NUM_THREADS": "1", "AIHEP_WORKDIR":
           str(workdir), "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
           "AIHEP_READ": "\n".join(readable)}
    command = [*_unshare_prefix(), "sh", "-c", _CONFINE, "confine",
               os.path.abspath(sys.executable), "-I", script.name]
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
    with contextlib.suppress(OSError):
        (workdir / ".sandbox-root").rmdir()  # the mount point; its tmpfs died with the process
    cut = config.max_output_bytes
    return {"status": status, "returncode": process.returncode,
            "stdout": stdout[:cut].decode(errors="replace"),
            "stderr": stderr[-cut:].decode(errors="replace"),
            "seconds": round(time.perf_counter() - start, 3), "script": str(script)}
