"""Gradient-boosted decision trees on jet observables: the baseline every network must beat."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.io.jets import JetSet
from aihep.tagging.highlevel import high_level_features


class BDTConfig(BaseModel):
    """scikit-learn HistGradientBoostingClassifier settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bdt"] = "bdt"
    max_iter: int = Field(300, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    max_leaf_nodes: int = Field(31, ge=2)
    radius: float = Field(0.8, gt=0, description="jet radius for computed substructure")


class BDTTagger:
    """``fit(jets)`` / ``predict_proba(jets) -> (n, n_classes)`` on :data:`HIGH_LEVEL`."""

    def __init__(self, config: BDTConfig, n_classes: int, seed: int = DEFAULT_SEED) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.config, self.n_classes = config, n_classes
        self.model = HistGradientBoostingClassifier(
            max_iter=config.max_iter, learning_rate=config.learning_rate,
            max_leaf_nodes=config.max_leaf_nodes, early_stopping=True,
            validation_fraction=0.2, random_state=seed)

    def fit(self, jets: JetSet) -> BDTTagger:
        self.model.fit(high_level_features(jets, self.config.radius), jets.labels)
        return self

    def predict_proba(self, jets: JetSet) -> np.ndarray:
        probs = np.zeros((len(jets), self.n_classes))
        probs[:, self.model.classes_] = self.model.predict_proba(
            high_level_features(jets, self.config.radius))
        return probs
