"""EdgeConv: the factorized first edge layer equals the per-edge formula."""

import torch

from aihep.nn.edgeconv import EdgeConv
from aihep.nn.knn import gather_neighbours, knn


def _per_edge(block: EdgeConv, coords, x, mask):
    """The textbook EdgeConv: the edge MLP applied to the concatenation [x_i, x_j - x_i]."""
    index, valid = knn(coords, mask, block.k)
    valid = valid & mask[..., None]
    centre = x[:, :, None, :].expand(-1, -1, block.k, -1)
    h = torch.cat([centre, gather_neighbours(x, index) - centre], dim=-1)
    for linear, norm in zip(block.linears, block.norms, strict=True):
        h = torch.relu(norm(linear(h), valid))
    aggregated = (h * valid[..., None]).sum(2) / valid.sum(-1, keepdim=True).clamp(min=1)
    return torch.relu(aggregated + block.shortcut_norm(block.shortcut(x), mask)) * mask[..., None]


def test_factorized_edge_layer_matches_the_per_edge_formula():
    torch.manual_seed(0)
    block = EdgeConv(4, 5, (8, 6))
    x = torch.randn(3, 10, 5)
    mask = torch.arange(10)[None, :] < torch.tensor([[10], [6], [3]])
    coords = torch.randn(3, 10, 2)
    for training in (True, False):
        block.train(training)
        torch.testing.assert_close(block(coords, x, mask), _per_edge(block, coords, x, mask),
                                   atol=1e-5, rtol=1e-5)
