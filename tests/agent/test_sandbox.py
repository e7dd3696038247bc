"""Free-form code: refused by default; when allowed, confined (no network, writes only in the
work directory, CPU limit, timeout); refused where confinement is impossible."""

from __future__ import annotations

import pytest

from aihep.agent import sandbox
from aihep.agent.policy import Policy
from aihep.agent.registry import default_registry
from aihep.agent.runner import ToolRunner
from aihep.agent.sandbox import SandboxConfig, SandboxUnavailable, run_code

needs_sandbox = pytest.mark.skipif(sandbox.sandbox_problem() is not None,
                                   reason=f"no confinement here: {sandbox.sandbox_problem()}")


def test_code_execution_is_refused_by_the_default_policy(tmp_path):
    runner = ToolRunner(default_registry(), Policy(run_dir=tmp_path / "run"))
    result = runner.call("run_code", {"code": "print(1)",
                                      "workdir": str(tmp_path / "run" / "code")}, "test")
    assert result.status == "refused" and "allow_code_execution" in result.message
    assert not (tmp_path / "run" / "code").exists()


@needs_sandbox
def test_allowed_code_runs_and_sees_its_work_directory(tmp_path):
    runner = ToolRunner(default_registry(), Policy(run_dir=tmp_path / "run",
                                                   allow_code_execution=True))
    code = "import numpy as np\nopen('out.txt', 'w').write('42')\nprint(np.arange(4).sum())\n"
    result = runner.call("run_code", {"code": code, "workdir": str(tmp_path / "run" / "code")},
                         "test")
    assert result.status == "ok" and result.output["status"] == "ok", result.output
    assert result.output["stdout"].strip() == "6"
    assert (tmp_path / "run" / "code" / "out.txt").read_text() == "42"
    outside = runner.call("run_code", {"code": "print(1)", "workdir": str(tmp_path / "x")},
                          "test")
    assert outside.status == "refused"


@needs_sandbox
def test_no_network_and_no_writes_outside(tmp_path):
    victim = tmp_path / "outside.txt"
    code = ("import socket\n"
            "s = socket.socket(); s.settimeout(2)\n"
            "print('net', s.connect_ex(('127.0.0.1', 22)) != 0)\n"
            f"try:\n    open({str(victim)!r}, 'w').write('x')\n    print('wrote')\n"
            "except OSError as e:\n    print('denied', e.errno)\n")
    result = run_code(code, tmp_path / "run" / "code")
    assert result["status"] == "ok", result["stderr"]
    assert "net True" in result["stdout"] and "denied" in result["stdout"]
    assert not victim.exists()


@needs_sandbox
def test_cpu_limit_and_timeout(tmp_path):
    spin = run_code("while True:\n    pass\n", tmp_path / "a",
                    SandboxConfig(cpu_seconds=1, timeout_seconds=30))
    assert spin["status"] == "failed" and spin["seconds"] < 25
    sleep = run_code("import time\ntime.sleep(60)\n", tmp_path / "b",
                     SandboxConfig(timeout_seconds=1))
    assert sleep["status"] == "timeout" and sleep["seconds"] < 20


def test_refuses_when_confinement_is_impossible(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "user namespaces are disabled")
    with pytest.raises(SandboxUnavailable, match="never runs code unconfined"):
        run_code("print(1)", tmp_path / "code")
    assert not (tmp_path / "code").exists()


@needs_sandbox
def test_code_reads_only_the_policy_read_paths(tmp_path):
    """With run_code allowed, a snippet could read any file (writes were blocked): now it sees
    the policy's read paths, its work directory and the Python runtime, nothing else."""
    allowed, secret = tmp_path / "allowed", tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (allowed / "a.txt").write_text("visible")
    (secret / "s.txt").write_text("hidden")
    runner = ToolRunner(default_registry(), Policy(read_paths=(allowed,),
                                                   run_dir=tmp_path / "run",
                                                   allow_code_execution=True))
    code = ("import os\n"
            f"for p in [{str(allowed / 'a.txt')!r}, {str(secret / 's.txt')!r}, "
            "'/etc/passwd']:\n"
            "    try:\n        print(p, open(p).read().strip())\n"
            "    except OSError as e:\n        print(p, 'absent', e.errno)\n"
            "try:\n    os.chroot('/tmp')\n    print('chroot ok')\n"
            "except OSError:\n    print('chroot refused')\n")
    result = runner.call("run_code", {"code": code, "workdir": str(tmp_path / "run" / "c")},
                         "test")
    assert result.status == "ok" and result.output["status"] == "ok", result.output
    out = result.output["stdout"]
    assert f"{allowed / 'a.txt'} visible" in out
    assert f"{secret / 's.txt'} absent 2" in out and "hidden" not in out
    assert "/etc/passwd absent" in out  # a system file every Linux has, outside read_paths
    assert "chroot refused" in out  # no capabilities: no way out of the confinement
