"""``aihep event``: pretrain, fine-tune and evaluate from the command line; bad input."""

from __future__ import annotations

import json

from test_event_model import toy
from typer.testing import CliRunner

from aihep.cli import app
from aihep.io.assignment import write_events

runner = CliRunner()


def test_pretrain_finetune_evaluate(tmp_path):
    semi = write_events(tmp_path / "semi.h5", toy(40, seed=1))
    allhad = write_events(tmp_path / "allhad.h5", toy(40, seed=2, lepton=False))
    test = write_events(tmp_path / "test.h5", toy(30, seed=3, lepton=False))
    small = ["--epochs", "1", "--hidden", "16", "--layers", "1", "--json"]
    pre = tmp_path / "pre"
    result = runner.invoke(app, ["event", "train", "--data", f"ttbar-semileptonic={semi}",
                                 "--data", f"unlabelled={allhad}", "--out", str(pre), *small,
                                 "--summary"])
    assert result.exit_code == 0, result.output
    card = json.loads((pre / "card.json").read_text())
    assert [d["process"] for d in card["data"]] == ["ttbar-semileptonic", None]
    assert all(len(d["sha256"]) == 64 for d in card["data"])  # data identified by hash
    tuned = tmp_path / "tuned"
    result = runner.invoke(app, ["event", "train", "--data", f"ttbar={allhad}", "--out",
                                 str(tuned), "--init", str(pre), "--tasks", "assignment",
                                 "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads((tuned / "card.json").read_text())
    assert card["tasks"] == ["assignment"] and card["init"]["directory"] == str(pre)
    assert card["config"]["hidden"] == 16  # the pretrained model's sizes, not the defaults
    assert card["config"]["summary"] and "log HT" in card["inputs"]["summary"]
    out = tmp_path / "eval"
    result = runner.invoke(app, ["event", "evaluate", str(tuned), str(test), "--out", str(out),
                                 "--process", "ttbar", "--json"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)
    assert evaluation["n_events"] == 30
    assert abs(sum(evaluation["mean_probabilities"].values()) - 1) < 1e-5
    assert {r["njets"] for r in evaluation["assignment"]} >= {"6", "all"}
    assert (out / "probabilities.npz").is_file() and (out / "manifest.json").is_file()


def test_bad_input_is_one_line(tmp_path, one_line_error):
    data = write_events(tmp_path / "semi.h5", toy(20, seed=1))
    cases = [
        (["--data", str(data)], "expected PROCESS=FILE"),
        (["--data", f"zprime={data}"], "process 'zprime' is not known"),
        (["--data", f"ttbar={data}", "--tasks", "flavour"], "'flavour' not known"),
        (["--data", f"ttbar={tmp_path / 'missing.h5'}"], "missing.h5"),
    ]
    for extra, message in cases:
        out = tmp_path / "out"
        assert message in one_line_error(runner.invoke(app, ["event", "train", *extra,
                                                             "--out", str(out)]), out)


def test_cli_choices_are_the_codes():
    from aihep.assign.data import Process
    from aihep.cli.event import PROCESSES
    from aihep.eventmodel.run import PROCESS_LABELS

    assert set(PROCESSES) == set(Process.__args__) == set(PROCESS_LABELS)
