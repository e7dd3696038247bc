"""Properties every model family must have, one battery over all of them.

Per family: finite outputs of the right shape; invariance (or equivariance) under a
permutation of set elements and under padding, where the inputs are sets; gradients reach
every parameter; the config survives a JSON round trip; a saved state dict, loaded into a
model rebuilt from the round-tripped config, gives the same outputs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from aihep.discovery.autoencoder import AutoencoderConfig, ConditionalAutoencoderNet
from aihep.discovery.flows import FlowConfig, build_flow
from aihep.nn.classifier import MLPConfig
from aihep.nn.layers import mlp
from aihep.reco.gnn import N_FEATURES, PRESETS, GNNConfig, TrackGNN
from aihep.tagging.models import build_model, model_config_from_dict, preset
from toyjets import jet_batch


@dataclass(frozen=True)
class Family:
    config: object
    build: Callable[[object], torch.nn.Module]
    inputs: Callable[[int], tuple[torch.Tensor, ...]]
    scalar: Callable[[torch.nn.Module, tuple], torch.Tensor]  # what gradients flow from
    round_trip: Callable[[object], object]
    set_axis: bool = False  # inputs are (batch, element, ...) sets with a mask last


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _doms(seed: int, n: int = 4, p: int = 16):
    g = _gen(seed)
    coords = 50 * torch.randn(n, p, 3, generator=g)
    features = torch.cat([coords, torch.randn(n, p, N_FEATURES - 3, generator=g)], dim=-1)
    mask = torch.ones(n, p, dtype=torch.bool)
    mask[1, 12:] = False
    return features * mask[..., None], coords * mask[..., None], mask


def _tagger(name: str) -> Family:
    return Family(preset(name), lambda c: build_model(c, 7, 4), jet_batch,
                  lambda m, x: m(*x).logsumexp(-1).sum(),
                  lambda c: model_config_from_dict(c.model_dump(mode="json")), set_axis=True)


def _gnn(target: str) -> Family:
    config = PRESETS["gnn-lite"].model_copy(update={"target": target, "k": 4})
    return Family(config, TrackGNN, _doms, lambda m, x: m(*x).square().sum(),
                  lambda c: GNNConfig.model_validate_json(c.model_dump_json()), set_axis=True)


FLOW = FlowConfig(transforms=2, hidden_features=(16, 16))
AE = AutoencoderConfig()
MLP = MLPConfig(hidden=(16, 16))
FAMILIES = {
    **{name: _tagger(name) for name in ("pfn", "pfn-lite", "particlenet-lite", "part-lite")},
    "gnn-points": _gnn("points"),
    "gnn-direction": _gnn("direction"),
    "flow": Family(FLOW, lambda c: build_flow(c, 4, 1),
                   lambda s: (torch.randn(32, 4, generator=_gen(s)),
                              torch.randn(32, 1, generator=_gen(s + 1))),
                   lambda m, x: -m(x[1]).log_prob(x[0]).sum(),
                   lambda c: FlowConfig.model_validate_json(c.model_dump_json())),
    "autoencoder": Family(AE, lambda c: ConditionalAutoencoderNet(4, 1, c),
                          lambda s: (torch.randn(32, 4, generator=_gen(s)),
                                     torch.randn(32, 1, generator=_gen(s + 1))),
                          lambda m, x: (m(*x) - x[0]).square().sum(),
                          lambda c: AutoencoderConfig.model_validate_json(c.model_dump_json())),
    "mlp": Family(MLP, lambda c: mlp([4, *c.hidden, 1], dropout=c.dropout),
                  lambda s: (torch.randn(32, 4, generator=_gen(s)),),
                  lambda m, x: m(*x).sum(),
                  lambda c: MLPConfig.model_validate_json(c.model_dump_json())),
}


def _model(family: Family) -> torch.nn.Module:
    torch.manual_seed(1)
    model = family.build(family.config)
    model.train()
    for seed in range(3):  # batch-norm running statistics away from the identity
        family.scalar(model, family.inputs(seed)).backward()
    return model.eval()


def _output(model: torch.nn.Module, family: Family, x: tuple) -> torch.Tensor:
    with torch.no_grad():
        if family.build is FAMILIES["flow"].build:
            return model(x[1]).log_prob(x[0])
        return model(*x)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_reach_every_parameter(name):
    family = FAMILIES[name]
    torch.manual_seed(0)
    model = family.build(family.config).train()
    family.scalar(model, family.inputs(7)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


@pytest.mark.parametrize("name", FAMILIES)
def test_config_round_trip_and_save_load_give_the_same_model(name):
    family = FAMILIES[name]
    model = _model(family)
    config = family.round_trip(family.config)
    assert config == family.config
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    rebuilt = family.build(config)
    rebuilt.load_state_dict(torch.load(buffer, weights_only=True))
    rebuilt.eval()
    x = family.inputs(11)
    out = _output(model, family, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(_output(rebuilt, family, x), out)


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.set_axis])
def test_set_models_ignore_element_order_and_padding(name):
    family = FAMILIES[name]
    model = _model(family)
    x = family.inputs(5)
    out = _output(model, family, x)
    perm = torch.randperm(x[0].shape[1], generator=_gen(3))
    shuffled = _output(model, family, tuple(t[:, perm] for t in x))
    per_element = out.dim() == 3  # GNN emission points: one row per element
    torch.testing.assert_close(shuffled, out[:, perm] if per_element else out,
                               atol=1e-4, rtol=1e-4)
    pad = 5
    wider = tuple(torch.cat([t, torch.full((t.shape[0], pad, *t.shape[2:]), 7.0)], dim=1)
                  for t in x[:-1])  # garbage in the padded slots
    mask = torch.cat([x[-1], torch.zeros(x[-1].shape[0], pad, dtype=torch.bool)], dim=1)
    padded = _output(model, family, (*wider, mask))
    torch.testing.assert_close(padded[:, :x[0].shape[1]] if per_element else padded, out,
                               atol=1e-4, rtol=1e-4)
