"""The command line: thin wrappers, one clear error line, exit codes, speed of --help."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from aihep.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


HEAVY_MODULES = ("torch", "pythia8", "fastjet", "sklearn", "uproot", "h5py", "matplotlib")
HELP_PROBE = """
import sys
from aihep.cli import app
try:
    app(["--help"])
except SystemExit:
    pass
print("MODULES", *sorted(m for m in sys.modules if "." not in m))
"""


def test_help_imports_no_heavy_library():
    """``aihep --help`` stays fast (a fraction of a second) because the command modules
    import torch, Pythia, FastJet... only inside the commands: checked on the modules loaded,
    not on a clock (a busy machine would make a timing test flaky)."""
    out = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True,
                         check=True)
    assert "generate" in out.stdout
    loaded = set(out.stdout.split("MODULES", 1)[1].split())
    assert "typer" in loaded
    assert not loaded & set(HEAVY_MODULES), sorted(loaded & set(HEAVY_MODULES))


def test_unknown_process_lists_known(tmp_path):
    result = _run("generate", "higgs-magic", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "unknown process 'higgs-magic'" in result.output
    assert "qcd-dijet" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_invalid_pythia_setting(tmp_path):
    result = _run("generate", "qcd-dijet", "--out", str(tmp_path / "x"), "--events", "10",
                  "--set", "PartonLevel:MPI = sometimes?")
    assert result.exit_code == 2
    assert "PartonLevel:MPI" in result.output
    assert not (tmp_path / "x").exists()


def test_non_positive_events(tmp_path):
    result = _run("generate", "qcd-dijet", "--out", str(tmp_path / "x"), "--events", "0")
    assert result.exit_code == 2
    assert "must be positive" in result.output


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run("generate", "qcd-dijet", "--out", str(blocker / "x"), "--events", "5")
    assert result.exit_code == 2
    assert "cannot create output directory" in result.output


def test_generate_then_info(tmp_path):
    out = tmp_path / "ttbar"
    result = _run("generate", "ttbar", "--out", str(out), "--events", "20", "--seed", "3",
                  "--jet-radius", "0.4", "--max-jets", "6", "--detector", "truth", "--json")
    assert result.exit_code == 0, result.output
    info = _run("info", str(out), "--json")
    assert info.exit_code == 0
    assert '"process": "ttbar"' in info.output
    assert '"n_events": 20' in info.output


def test_info_on_corrupt_file(tmp_path):
    bad = tmp_path / "events_anomalydetection.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    result = _run("info", str(bad))
    assert result.exit_code == 2
    assert "events_anomalydetection.h5: file: expected a readable pandas HDF5" in result.output
    assert "Traceback" not in result.output


def test_info_on_missing_manifest(tmp_path):
    result = _run("info", str(tmp_path))
    assert result.exit_code == 2
    assert "manifest.json" in result.output


def test_processes_lists_registry():
    result = _run("processes")
    assert result.exit_code == 0
    for name in ("qcd-dijet", "wprime-xy", "ttbar", "zprime-tt"):
        assert name in result.output


def test_config_file_sets_options_and_flags_override_it(tmp_path):
    import json

    config = tmp_path / "generate.yaml"
    config.write_text("events: 6\nseed: 7\ndetector: truth\nchunk-size: 3\n")
    runner = CliRunner()
    first = runner.invoke(app, ["generate", "wprime-xy", "--out", str(tmp_path / "a"),
                                "--config", str(config)])
    assert first.exit_code == 0, first.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["config"]["n_events"] == 6
    assert manifest["config"]["detector"]["kind"] == "truth"
    second = runner.invoke(app, ["generate", "wprime-xy", "--out", str(tmp_path / "b"),
                                 "--config", str(config), "--seed", "8"])
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["seed"] == 8


def test_bad_config_file_is_one_line_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    for text, expected in (("evnts: 5\n", "field 'evnts' is not an option"),
                           ("[1, 2\n", "not valid YAML"), ("- 3\n", "expected a mapping")):
        bad.write_text(text)
        result = CliRunner().invoke(app, ["generate", "qcd-dijet", "--out",
                                          str(tmp_path / "x"), "--config", str(bad)])
        assert result.exit_code == 2
        assert expected in result.output and str(bad) in result.output
        assert result.output.count("\n") <= 2
        assert not (tmp_path / "x").exists()


def test_cli_choices_are_the_codes_choices():
    """The help texts name exactly what the code accepts (no list that drifts)."""
    import re
    import typing

    import click

    from aihep.discovery.hunt import Method
    from aihep.reco.run import METHODS
    from aihep.tagging.features import FeatureSet
    from aihep.tagging.models import PRESETS
    from aihep.tagging.samples import KINDS

    command = typer.main.get_command(app)

    def help_of(path: list[str], name: str) -> str:
        cmd = command
        for part in path:
            cmd = cmd.commands[part]
        param = next(p for p in cmd.params if p.name == name)
        return param.help if isinstance(param, click.Option) else getattr(param, "help", "")

    def names(text: str) -> set[str]:
        return {re.sub(r"\s*\(.*", "", w).strip() for w in text.split("|")} - {"all"}

    assert names(help_of(["hunt"], "method").split(" (repeatable")[0]) == set(
        typing.get_args(Method))
    assert names(help_of(["reco", "evaluate"], "method")) == set(METHODS)
    assert names(help_of(["tag", "train"], "model")) == {*PRESETS, "bdt"}
    assert names(help_of(["tag", "train"], "features")) == set(typing.get_args(FeatureSet))
    assert names(help_of(["tag", "dataset"], "kind")) == set(KINDS)
    from aihep.design.optimizers import OPTIMIZERS

    assert names(help_of(["design", "run"], "optimizer")) == set(OPTIMIZERS)
    from aihep.assign.run import METHODS as ASSIGN_METHODS

    assert names(help_of(["assign", "evaluate"], "method")) == set(ASSIGN_METHODS)


def test_bad_input_leaves_one_line_and_no_progress_bar(tmp_path):
    # a real process (stderr not a terminal): the bar drawn before the input was read is
    # erased on failure, so the error is the only line
    (tmp_path / "empty.csv").write_text("")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", "from aihep.cli import app; app()", "hunt",
                             str(tmp_path / "empty.csv"), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "empty.csv" in lines[0] and not out.exists()


def test_every_command_has_a_one_line_summary():
    """The commands panels show each command's docstring as one flowing line."""
    def walk(command, path: str) -> list[tuple[str, str | None]]:
        found = [(path, command.short_help)] if path != "aihep" else []
        if hasattr(command, "commands"):  # a group (typer's own click types)
            for name, sub in command.commands.items():
                found += walk(sub, f"{path} {name}")
        return found

    commands = walk(typer.main.get_command(app), "aihep")
    assert len(commands) > 40
    leaves = [(p, h) for p, h in commands if h is not None]
    assert len(leaves) > 30
    assert all("\n" not in h and h.strip() == h for _, h in leaves)
    assert dict(leaves)["aihep tau dataset"].startswith(
        "Generate a sample with Pythia 8 and the detector; tau candidates (jets with a decay "
        "mode)")
