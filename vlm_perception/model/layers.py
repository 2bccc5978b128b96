# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Transformer building blocks shared by the vision, text and fusion encoders.

Pre-norm blocks, ``batch_first`` tensors (B, L, D) everywhere. Attention is written out
with ``nn.Linear`` projections and ``scaled_dot_product_attention`` (rather than
``nn.MultiheadAttention``) so that every projection is a plain Linear layer: dynamic int8
quantisation then covers all of them, and the whole encoder stays readable on one screen.
"""

from torch import nn
import torch.nn.functional as F


class Attention(nn.Module):
    """Multi-head self-attention over (B, L, D) with an optional boolean mask."""

    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f'dim {dim} is not divisible by heads {heads}')
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x, mask=None):
        """
        Attend over ``x``.

        x: (B, L, D). mask: None, or bool broadcastable to (B, heads, L, L) where True means
        "query position may attend to key position" (e.g. (B, 1, 1, L) for key padding or
        (B, 1, L, L) for a structured mask). Returns (B, L, D).
        """
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, D / heads)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class FeedForward(nn.Module):
    """Position-wise MLP: Linear, GELU, Linear."""

    def __init__(self, dim, hidden_dim, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim), nn.Dropout(dropout))

    def forward(self, x):
        """Map (B, L, D) to (B, L, D)."""
        return self.net(x)


class Block(nn.Module):
    """Pre-norm transformer layer: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim, heads, mlp_dim, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_dim, dropout)

    def forward(self, x, mask=None):
        """Map (B, L, D) to (B, L, D); ``mask`` as in :meth:`Attention.forward`."""
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of ``depth`` pre-norm blocks followed by a final LayerNorm."""

    def __init__(self, dim, depth, heads, mlp_dim, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(Block(dim, heads, mlp_dim, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, mask=None):
        """Map (B, L, D) to (B, L, D); ``mask`` as in :meth:`Attention.forward`."""
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)
