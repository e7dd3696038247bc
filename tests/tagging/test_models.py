"""Properties every tagger must have: shapes, particle-order invariance, padding, gradients."""

from __future__ import annotations

import pytest
import torch

from aihep.tagging.models import build_model, model_config_from_dict, preset

NAMES = ("pfn", "pfn-lite", "particlenet-lite", "part-lite")


def _batch(n: int = 6, p: int = 12, f: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, p, f, generator=g)
    points = 0.3 * torch.randn(n, p, 2, generator=g)
    momenta = 20 * torch.randn(n, p, 3, generator=g)
    vectors = torch.cat([momenta, momenta.norm(dim=-1, keepdim=True) + 0.5], dim=-1)
    mask = torch.ones(n, p, dtype=torch.bool)
    mask[0, 3:] = False  # fewer particles than ParticleNet-Lite's k = 7
    mask[1, 9:] = False
    for t in (features, points, vectors):
        t[~mask] = 0
    return features, points, vectors, mask


def _model(name: str, f: int = 7) -> torch.nn.Module:
    torch.manual_seed(1)
    model = build_model(preset(name), f, 4)
    # a few training steps so batch-norm running statistics are not the identity
    batch = _batch(seed=5)
    model.train()
    for _ in range(3):
        model(*batch).sum().backward()
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_permutation_invariance(name):
    model = _model(name)
    features, points, vectors, mask = _batch()
    with torch.no_grad():
        out = model(features, points, vectors, mask)
        assert out.shape == (6, 4) and torch.isfinite(out).all()
        perm = torch.randperm(12, generator=torch.Generator().manual_seed(3))
        shuffled = model(features[:, perm], points[:, perm], vectors[:, perm], mask[:, perm])
    torch.testing.assert_close(out, shuffled, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_padding_does_not_change_the_output(name):
    model = _model(name)
    features, points, vectors, mask = _batch()
    pad = 5
    wider = [torch.cat([t, torch.full((6, pad, *t.shape[2:]), 7.0)], dim=1)
             for t in (features, points, vectors)]  # garbage in padded slots
    wide_mask = torch.cat([mask, torch.zeros(6, pad, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(features, points, vectors, mask),
                                   model(*wider, wide_mask), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter_and_config_round_trips(name):
    torch.manual_seed(0)
    model = build_model(preset(name), 7, 4).train()
    model(*_batch()).logsumexp(-1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing
    config = preset(name)
    assert model_config_from_dict(config.model_dump()) == config


def test_paper_sizes_match_the_papers():
    # ParticleNet: 366k parameters; ParT: 2.14M (papers' tables, JetClass inputs, 10 classes)
    counts = {n: sum(p.numel() for p in build_model(preset(n), 17, 10).parameters())
              for n in ("particlenet", "part")}
    assert 0.36e6 < counts["particlenet"] < 0.38e6
    assert 2.10e6 < counts["part"] < 2.20e6


def test_masked_batch_norm_equals_batch_norm_on_the_real_entries():
    from aihep.nn.norm import MaskedBatchNorm

    torch.manual_seed(0)
    x, mask = 2 * torch.randn(5, 7, 4, 3) + 1, torch.rand(5, 7, 4) > 0.3
    ours, reference = MaskedBatchNorm(3).train(), torch.nn.BatchNorm1d(3).train()
    expected = torch.zeros_like(x)
    expected[mask] = reference(x[mask])
    torch.testing.assert_close(ours(x, mask), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.bn.running_var, reference.running_var)
    ours.eval(), reference.eval()
    expected[mask] = reference(x[mask])
    torch.testing.assert_close(ours(x, mask), expected, atol=1e-5, rtol=1e-5)


def test_part_packed_pair_bias_equals_the_dense_one():
    model = _model("part-lite")  # eval mode: batch norm from running statistics
    _, _, vectors, mask = _batch()
    with torch.no_grad():
        packed = model.pair_bias(vectors, mask, packed=True)
        dense = model.pair_bias(vectors, mask, packed=False)
    assert packed.shape == (6, 4, 12, 12) and packed[1, :, 9:].abs().sum() == 0
    assert packed[:, :, range(12), range(12)].abs().sum() == 0  # no self pairs
    torch.testing.assert_close(packed, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed, packed.transpose(2, 3))
