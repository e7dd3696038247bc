"""Tagger specifics: paper sizes, masked batch norm, ParT's pair bias (the properties every
model must have are in tests/nn/test_model_battery.py)."""

from __future__ import annotations

import torch

from aihep.tagging.models import build_model, preset

NAMES = ("pfn", "pfn-lite", "particlenet-lite", "part-lite")


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
    from toyjets import jet_batch

    torch.manual_seed(1)
    model = build_model(preset("part-lite"), 7, 4).train()
    for seed in range(3):  # batch-norm running statistics away from the identity
        model(*jet_batch(seed)).sum().backward()
    model.eval()
    _, _, vectors, mask = jet_batch(0)
    with torch.no_grad():
        packed = model.pair_bias(vectors, mask, packed=True)
        dense = model.pair_bias(vectors, mask, packed=False)
    assert packed.shape == (6, 4, 12, 12) and packed[1, :, 9:].abs().sum() == 0
    assert packed[:, :, range(12), range(12)].abs().sum() == 0  # no self pairs
    torch.testing.assert_close(packed, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed, packed.transpose(2, 3))
