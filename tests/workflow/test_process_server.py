"""Processes started from the warm process server behave like spawned ones: the parent's current
environment, warning options, working directory and standard output reach them; the preloaded
modules are there before the task runs; AIHEP_START_METHOD=spawn switches the server off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from aihep.agent.jobs import JobConfig, run_job
from aihep.errors import ConfigError
from aihep.workflow.executor import ProcessExecutor
from aihep.workflow.processes import start_method

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the process server is used on Linux only")


def report(tag: str) -> dict:
    """What a job or worker sees of its parent; prints a line to its standard output."""
    sys.stdout.write(f"hello from {tag}\n")
    sys.stdout.flush()
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn("a library warning", UserWarning, stacklevel=1)
    return {"tag": tag, "env": os.environ.get("AIHEP_TEST_MARK"), "cwd": os.getcwd(),
            "warned": len(caught), "pid": os.getpid()}


def test_a_job_sees_the_parents_current_state(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    run_job(report, {"tag": "warm-up"}, JobConfig(retries=0))  # the server starts here
    capfd.readouterr()
    monkeypatch.setenv("AIHEP_TEST_MARK", "set after the server started")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    monkeypatch.chdir(tmp_path)
    outcome = run_job(report, {"tag": "job"}, JobConfig(retries=0))
    assert outcome.status == "ok", outcome.message
    seen = outcome.output
    assert seen["env"] == "set after the server started"
    assert seen["cwd"] == str(tmp_path)
    assert seen["pid"] != os.getpid()
    # PYTHONWARNINGS=ignore holds in the job as in a freshly started interpreter
    assert seen["warned"] == 0
    assert "hello from job" in capfd.readouterr().out  # the parent's current stdout (captured)


def test_pool_workers_see_the_parents_current_state(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("AIHEP_TEST_MARK", "pool")
    monkeypatch.setenv("PYTHONWARNINGS", "default")  # whatever earlier tests left
    monkeypatch.chdir(tmp_path)
    executor = ProcessExecutor(2)
    try:
        seen = list(executor.map_unordered(report, ["a", "b", "c"]))
    finally:
        executor.close()
    assert sorted(s["tag"] for s in seen) == ["a", "b", "c"]
    assert {s["env"] for s in seen} == {"pool"}
    assert {s["cwd"] for s in seen} == {str(tmp_path)}
    assert {s["warned"] for s in seen} == {1}  # no PYTHONWARNINGS: the warning is raised
    assert capfd.readouterr().out.count("hello from") == 3


SCRIPT = textwrap.dedent("""
    import json, sys
    from aihep.agent.jobs import JobConfig, run_job

    def loaded(name, caller):
        import os, sys
        return {"preloaded": name in sys.modules, "forked_by_server": os.getppid() != caller}

    if __name__ == "__main__":
        import os
        out = run_job(loaded, {"name": "aihep.discovery.spectrum", "caller": os.getpid()},
                      JobConfig(retries=0, preload=("aihep.discovery.spectrum",)))
        print(json.dumps(out.output))
""")


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_preloaded_modules_are_there_before_the_job_runs(tmp_path, method):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "AIHEP_START_METHOD": method}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    forked = method == "forkserver"
    assert seen == {"preloaded": forked, "forked_by_server": forked}


def test_the_start_method_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("AIHEP_START_METHOD", "spawn")
    assert start_method() == "spawn"
    monkeypatch.delenv("AIHEP_START_METHOD")
    assert start_method() == "forkserver"
    monkeypatch.setenv("AIHEP_START_METHOD", "fork")  # not offered: forking a parent's state
    with pytest.raises(ConfigError, match="AIHEP_START_METHOD: expected 'forkserver' or "
                       "'spawn', not 'fork'"):
        start_method()
    with pytest.raises(ConfigError, match="AIHEP_START_METHOD"):
        ProcessExecutor(2)  # refused before a command writes anything
