"""scripts/model_cards.py: the docs page of model cards, keeping the cards of models that
are not in this machine's registry when asked (--keep)."""

import importlib.util
from pathlib import Path

from aihep.workflow.models import ModelCard

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("model_cards", ROOT / "scripts" / "model_cards.py")
model_cards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_cards)


def card(name: str, auc: float) -> ModelCard:
    return ModelCard(name=name, area="pid", task="particle identification",
                     kind="aihep.pid.train", input_schema="tracks/detector-signals",
                     inputs={"p": "momentum, GeV"}, metrics={"f1_macro": auc})


def test_keep_merges_old_cards_with_new_ones_sorted_and_the_registry_wins():
    old = model_cards.render([card("b-old", 0.5), card("c-same", 0.1)])
    kept = model_cards.kept_sections(old, {"a-new", "c-same"})
    assert sorted(kept) == ["b-old"]
    page = model_cards.render([card("a-new", 0.9), card("c-same", 0.7)], kept)
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    assert headings == ["## a-new (v1)", "## b-old (v1)", "## c-same (v1)"]
    assert "| f1_macro | 0.7 |" in page and "| f1_macro | 0.1 |" not in page
    assert "| f1_macro | 0.5 |" in page  # the kept card, byte for byte
    assert model_cards.kept_sections(page, set()).keys() == {"a-new", "b-old", "c-same"}


def test_an_empty_page_says_so():
    assert "No model is registered yet." in model_cards.render([], {})


def test_training_files_of_the_same_name_are_told_apart_by_their_folders():
    paths = ["/c/simulation/qcd_100/candidates.npz", "/c/data/qcd_100/candidates.npz",
             "/c/data/zee_10/candidates.npz"]
    assert model_cards.short_paths(paths) == [
        "simulation/qcd_100/candidates.npz", "data/qcd_100/candidates.npz",
        "data/zee_10/candidates.npz"]
    assert model_cards.short_paths(["/a/x.parquet", "/b/y.parquet"]) == ["x.parquet", "y.parquet"]
