"""kNN against a brute-force loop; ParT pair features against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import torch

from aihep.nn.knn import gather_neighbours, knn
from aihep.tagging.features import pair_features


def test_knn_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(4, 15, 3, generator=g)
    mask = torch.ones(4, 15, dtype=torch.bool)
    mask[1, 10:] = False
    mask[2, 4:] = False  # 4 real particles: only 3 neighbours exist for k = 5
    index, valid = knn(points, mask, k=5)
    for b in range(4):
        real = [j for j in range(15) if mask[b, j]]
        for i in real:
            others = sorted((float(torch.dist(points[b, i], points[b, j])), j)
                            for j in real if j != i)[:5]
            found = [int(j) for j, ok in zip(index[b, i], valid[b, i], strict=True) if ok]
            assert found == [j for _, j in others]
    assert valid[2, 0].sum() == 3 and valid[0].all()


def test_gather_neighbours():
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    index = torch.tensor([[[1, 2], [0, 3], [3, 1], [2, 0]]] * 2)
    out = gather_neighbours(x, index)
    assert out.shape == (2, 4, 2, 3)
    torch.testing.assert_close(out[1, 2, 0], x[1, 3])


def _vector(pt, y, phi, m):
    mt = math.hypot(pt, m)
    return [pt * math.cos(phi), pt * math.sin(phi), mt * math.sinh(y), mt * math.cosh(y)]


def test_pair_features_match_a_hand_computation():
    a, b = (50.0, 0.3, 0.1, 0.14), (20.0, -0.2, 2.9, 0.5)  # pT, rapidity, phi, mass
    vectors = torch.tensor([[_vector(*a), _vector(*b), [0.0] * 4]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    out = pair_features(vectors, mask)
    dphi = (0.1 - 2.9 + math.pi) % (2 * math.pi) - math.pi
    delta = math.hypot(0.3 + 0.2, dphi)
    pa, pb = np.array(_vector(*a)), np.array(_vector(*b))
    s = pa + pb
    m2 = s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2
    expected = [math.log(delta), math.log(20.0 * delta), math.log(20.0 / 70.0), math.log(m2)]
    np.testing.assert_allclose(out[0, :, 0, 1].numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(out[0, :, 1, 0].numpy(), expected, rtol=1e-9)  # symmetric
    assert out[0, :, 0, 0].abs().sum() == 0 and out[0, :, 0, 2].abs().sum() == 0
