"""Particle Transformer (ParT), Qu, Li and Qian, ICML 2022 (arXiv:2202.03772).

Particles are embedded by an MLP; the four pairwise features of every particle pair
(ln delta, ln kT, ln z, ln m^2, :func:`~aihep.tagging.features.pair_features`) are embedded by
a 1x1-convolution MLP into one bias per attention head, added to the attention logits of
every particle-attention block (NormFormer-style: layer norms before and after attention and
inside the feed-forward net). A class token then attends to the particles in class-attention
blocks, and a linear layer gives the class logits. No positional encoding: invariant to
particle order. Defaults are the paper's (embedding 128-512-128, pair embedding 64-64-64,
8 heads, 8 particle blocks, 2 class blocks, dropout 0.1); :func:`part_lite` is narrower.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep.nn.norm import MaskedBatchNorm
from aihep.tagging.features import pair_features_between


class ParTConfig(BaseModel):
    """ParT sizes (paper defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["part"] = "part"
    embed_sizes: tuple[int, ...] = (128, 512, 128)
    pair_embed_sizes: tuple[int, ...] = (64, 64, 64)
    num_heads: int = Field(8, ge=1)
    num_layers: int = Field(8, ge=1, description="particle-attention blocks")
    num_cls_layers: int = Field(2, ge=1, description="class-attention blocks")
    ffn_ratio: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    use_pair_features: bool = True


def part_lite() -> ParTConfig:
    """A narrow ParT for CPUs: embedding 64-128-64, pair 32-32, 4 heads, 3 + 1 blocks."""
    return ParTConfig(embed_sizes=(64, 128, 64), pair_embed_sizes=(32, 32), num_heads=4,
                      num_layers=3, num_cls_layers=1)


class Block(nn.Module):
    """Attention (with optional additive bias) and feed-forward, NormFormer-style residuals."""

    def __init__(self, dim: int, heads: int, ffn_ratio: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.pre_attn = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.post_attn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, ffn_ratio * dim), nn.GELU(),
                                 nn.LayerNorm(ffn_ratio * dim), nn.Dropout(dropout),
                                 nn.Linear(ffn_ratio * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """query (n, Q, C), keys (n, K, C), key_mask (n, K) true = real, bias (n, h, Q, K)."""
        n, q_len, k_len = query.shape[0], query.shape[1], keys.shape[1]
        logits = torch.zeros(n, self.heads, q_len, k_len, dtype=query.dtype,
                             device=query.device) if bias is None else bias
        logits = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        normed_keys = self.pre_attn(keys)
        normed_query = normed_keys if query is keys else self.pre_attn(query)
        attended, _ = self.attn(normed_query, normed_keys, normed_keys, need_weights=False,
                                attn_mask=logits.reshape(n * self.heads, q_len, k_len))
        x = query + self.dropout(self.post_attn(attended))
        return x + self.dropout(self.ffn(x))


class ParT(nn.Module):
    """``forward(features, points, vectors, mask) -> logits (n, n_classes)``."""

    def __init__(self, config: ParTConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.input_norm = MaskedBatchNorm(n_features)
        layers: list[nn.Module] = []
        width = n_features
        for size in config.embed_sizes:
            layers += [nn.LayerNorm(width), nn.Linear(width, size), nn.GELU()]
            width = size
        self.embed = nn.Sequential(*layers)
        dim = width
        if config.use_pair_features:
            self.pair_norms = nn.ModuleList(nn.BatchNorm1d(c) for c in (
                4, *config.pair_embed_sizes))
            sizes = (4, *config.pair_embed_sizes, config.num_heads)
            self.pair_linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.blocks = nn.ModuleList(Block(dim, config.num_heads, config.ffn_ratio,
                                          config.dropout) for _ in range(config.num_layers))
        self.cls_blocks = nn.ModuleList(Block(dim, config.num_heads, config.ffn_ratio, 0.0)
                                        for _ in range(config.num_cls_layers))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, features: torch.Tensor, points: torch.Tensor, vectors: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(features, points, vectors, mask))

    def features(self, features: torch.Tensor, points: torch.Tensor, vectors: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
        """The normalized class-token vector (n, embed_sizes[-1]) the head reads (e.g. for a
        domain head)."""
        x = self.embed(self.input_norm(features, mask)) * mask[..., None]
        bias = self.pair_bias(vectors, mask) if self.config.use_pair_features else None
        for block in self.blocks:
            x = block(x, x, mask, bias) * mask[..., None]
        cls = self.cls_token.expand(len(x), -1, -1)
        cls_mask = torch.ones(len(x), 1, dtype=torch.bool, device=mask.device)
        for block in self.cls_blocks:
            cls = block(cls, torch.cat([cls, x], dim=1), torch.cat([cls_mask, mask], dim=1))
        return self.norm(cls[:, 0])

    def _embed_pairs(self, h: torch.Tensor) -> torch.Tensor:
        """Pair features (m, 4) -> (m, heads): batch norm, (GELU after a hidden layer), linear."""
        for i, (norm, linear) in enumerate(zip(self.pair_norms, self.pair_linears,
                                                strict=True)):
            h = norm(h)
            h = linear(h if i == 0 else nn.functional.gelu(h))
        return h

    def pair_bias(self, vectors: torch.Tensor, mask: torch.Tensor,
                  packed: bool | None = None) -> torch.Tensor:
        """The attention bias (n, heads, P, P) from the pair features; zero on the diagonal and
        for padding.

        ``packed`` (default: in training) embeds only the real pairs below the diagonal (the
        features are symmetric) and mirrors them, several times cheaper than all P x P pairs;
        the dense path has no data-dependent shapes (ONNX export). Both give the same values.
        """
        n, p = mask.shape
        eye = torch.eye(p, dtype=torch.bool, device=mask.device)
        if packed if packed is not None else self.training:
            lower = torch.tril(~eye)
            b, i, j = (mask[:, :, None] & mask[:, None, :] & lower).nonzero(as_tuple=True)
            h = self._embed_pairs(pair_features_between(vectors[b, i], vectors[b, j]))
            bias = vectors.new_zeros(n, p, p, h.shape[-1])
            bias[b, i, j] = h
            bias[b, j, i] = h
            return bias.permute(0, 3, 1, 2)
        real = mask[:, :, None] & mask[:, None, :] & ~eye
        features = pair_features_between(vectors[:, :, None, :], vectors[:, None, :, :])
        h = self._embed_pairs(features.reshape(-1, 4)).reshape(n, p, p, -1)
        return (h * real[..., None]).permute(0, 3, 1, 2)
