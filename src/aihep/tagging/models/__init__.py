"""Jet-tagging networks built from configs: PFN, ParticleNet, Particle Transformer.

Every model has ``forward(features, points, vectors, mask) -> logits (n, n_classes)`` with
features (n, P, F), points (n, P, 2), vectors (n, P, 4) and mask (n, P) from
:func:`aihep.tagging.features.particle_inputs`. Presets: ``pfn``, ``particlenet``, ``part``
(paper sizes) and ``pfn-lite``, ``particlenet-lite``, ``part-lite`` (CPU sizes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import Field, TypeAdapter
from torch import nn

from aihep.errors import ConfigError
from aihep.tagging.models.part import ParT, ParTConfig, part_lite
from aihep.tagging.models.particlenet import ParticleNet, ParticleNetConfig, particlenet_lite
from aihep.tagging.models.pfn import PFN, PFNConfig

ModelConfig = Annotated[PFNConfig | ParticleNetConfig | ParTConfig, Field(discriminator="kind")]
PRESETS: dict[str, Callable[[], PFNConfig | ParticleNetConfig | ParTConfig]] = {
    "pfn": PFNConfig, "pfn-lite": lambda: PFNConfig(phi_sizes=(64, 64, 128), f_sizes=(64, 64)),
    "particlenet": ParticleNetConfig, "particlenet-lite": particlenet_lite,
    "part": ParTConfig, "part-lite": part_lite,
}
_ADAPTER: TypeAdapter = TypeAdapter(ModelConfig)


def preset(name: str) -> PFNConfig | ParticleNetConfig | ParTConfig:
    """The config of a named preset (see the module docstring)."""
    try:
        return PRESETS[name]()
    except KeyError:
        msg = f"unknown model '{name}'; known: {', '.join(PRESETS)}"
        raise ConfigError(msg) from None


def model_config_from_dict(data: dict) -> PFNConfig | ParticleNetConfig | ParTConfig:
    """Rebuild a config saved with ``model_dump()``."""
    return _ADAPTER.validate_python(data)


def build_model(config: PFNConfig | ParticleNetConfig | ParTConfig, n_features: int,
                n_classes: int) -> nn.Module:
    """The network of a config, for ``n_features`` inputs per particle and ``n_classes``."""
    kinds = {"pfn": PFN, "particlenet": ParticleNet, "part": ParT}
    return kinds[config.kind](config, n_features, n_classes)


__all__ = [
    "PRESETS",
    "ModelConfig",
    "PFNConfig",
    "ParTConfig",
    "ParticleNetConfig",
    "build_model",
    "model_config_from_dict",
    "preset",
]
