"""A local registry of trained models ("experts"), each with a model card.

The registry is a directory (``$AIHEP_MODELS``, default ``~/.cache/aihep/models/registry``)
holding one folder per model name and version: a copy of the trained run and ``card.json``.
A card says what the model does (area, task), what it reads (an input schema name and the
inputs with their units), what it was trained on (files with SHA-256, from the run's
manifest), how good it is (metrics and the benchmark commit that measured them), its size,
licence, intended use and limits. Models are found by task and input schema.

    registry = ModelRegistry()
    card = registry.register("runs/top-part", ModelCard(name="top-part", ...))
    experts = registry.find(task="top tagging", input_schema="jets/particles")
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import ConfigError, InputError

CARD = "card.json"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def default_root() -> Path:
    return Path(os.environ.get("AIHEP_MODELS", Path.home() / ".cache" / "aihep" / "models"
                               / "registry"))


class ModelCard(BaseModel):
    """What a registered model is, reads, was trained on, achieves and may be used for."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="registry name: lower-case letters, digits, - _ .")
    version: int = Field(1, ge=1)
    area: str = Field(description="tagging | reco | fastsim | eventmodel | pid | tau | ...")
    task: str = Field(description="what it does, e.g. 'top tagging'")
    kind: str = Field(description="the manifest kind of the run (e.g. aihep.tag.train)")
    input_schema: str = Field(description="name of the input layout, e.g. jets/particles")
    inputs: dict[str, str] = Field(default_factory=dict,
                                   description="input -> description with units")
    outputs: dict[str, str] = Field(default_factory=dict)
    training_data: list[dict[str, Any]] = Field(default_factory=list,
                                                description="files with sha256")
    metrics: dict[str, Any] = Field(default_factory=dict)
    benchmark_commit: str | None = None
    size: dict[str, Any] = Field(default_factory=dict, description="parameters, bytes")
    licence: str = "Apache-2.0"
    intended_use: str = ""
    limits: str = ""
    created_utc: str = ""
    run_config: dict[str, Any] = Field(default_factory=dict)
    directory: str | None = Field(None, description="set by the registry")


class ModelRegistry:
    """Register, list, show, find and remove models in a registry directory."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def _folder(self, name: str, version: int) -> Path:
        return self.root / name / f"v{version}"

    def register(self, run_dir: str | Path, card: ModelCard, replace: bool = False
                 ) -> ModelCard:
        """Copy ``run_dir`` into the registry under the card's name; the next free version
        unless ``card.version`` is given with ``replace``. Returns the stored card."""
        import datetime

        from aihep._atomic import write_json_atomic

        run_dir = Path(run_dir)
        if not (run_dir / "manifest.json").is_file():
            raise InputError(run_dir, "manifest.json", "a trained aihep run directory")
        if not card.name or set(card.name) - NAME_CHARS:
            msg = (f"model name '{card.name}': expected lower-case letters, digits, '-', '_' "
                   "or '.'")
            raise ConfigError(msg)
        versions = self.versions(card.name)
        version = card.version if replace else (max(versions) + 1 if versions else 1)
        target = self._folder(card.name, version)
        if target.exists():
            if not replace:
                msg = f"model {card.name} v{version} exists; pass replace to overwrite it"
                raise ConfigError(msg)
            shutil.rmtree(target)
        tmp = target.with_name(target.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(run_dir, tmp / "run")
        stored = card.model_copy(update={
            "version": version, "directory": str((target / "run").resolve()),
            "created_utc": card.created_utc or datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds")})
        write_json_atomic(tmp / CARD, stored.model_dump(mode="json"))
        tmp.rename(target)
        return stored

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in folder.iterdir()
                      if p.name.startswith("v") and p.name[1:].isdigit()
                      and (p / CARD).is_file())

    def cards(self) -> list[ModelCard]:
        """Every registered model's latest version."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            versions = self.versions(folder.name)
            if versions:
                out.append(self.show(folder.name, versions[-1]))
        return out

    def show(self, name: str, version: int | None = None) -> ModelCard:
        versions = self.versions(name)
        if not versions:
            known = ", ".join(c.name for c in self.cards()) or "none"
            raise InputError(self.root / name, "model", f"a registered model (known: {known})")
        version = versions[-1] if version is None else version
        if version not in versions:
            raise InputError(self.root / name, f"v{version}",
                             f"one of the versions {', '.join(f'v{v}' for v in versions)}")
        path = self._folder(name, version) / CARD
        try:
            card = ModelCard.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputError(path, "card", f"a valid model card ({exc})") from None
        # the model is where the card is: a registry given as a relative path, or moved to
        # another place or machine, still finds it from any working directory
        return card.model_copy(update={"directory": str((path.parent / "run").resolve())})

    def remove(self, name: str, version: int | None = None) -> list[int]:
        """Remove one version (or all); returns the versions removed."""
        versions = self.versions(name)
        if not versions:
            raise InputError(self.root / name, "model", "a registered model")
        chosen = versions if version is None else [version]
        for v in chosen:
            if v not in versions:
                raise InputError(self.root / name, f"v{v}", "an existing version")
            shutil.rmtree(self._folder(name, v))
        if not self.versions(name):
            shutil.rmtree(self.root / name, ignore_errors=True)
        return chosen

    def find(self, task: str | None = None, input_schema: str | None = None,
             area: str | None = None) -> list[ModelCard]:
        """Latest versions whose task contains ``task`` (case-insensitive), whose input
        schema equals ``input_schema`` and whose area equals ``area`` (each if given)."""
        out = []
        for card in self.cards():
            if task is not None and task.lower() not in card.task.lower():
                continue
            if input_schema is not None and card.input_schema != input_schema:
                continue
            if area is not None and card.area != area:
                continue
            out.append(card)
        return out
