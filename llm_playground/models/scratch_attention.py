"""Attention from scratch, to read: NumPy and torch versions, and multi-head attention built from heads.

Scaled dot-product attention, for queries Q (T_q × d), keys K (T_k × d) and values V (T_k × d_v):

    scores  = Q Kᵀ / √d                  (T_q × T_k)  how well each query matches each key
    weights = softmax(scores, over keys)  each row sums to 1
    output  = weights V                   (T_q × d_v)  a weighted average of the values

A causal mask sets the score of every key after the query's own position to -∞ before the softmax,
so a token never looks ahead; its weight becomes exactly 0. Like
`torch.nn.functional.scaled_dot_product_attention(is_causal=True)` the mask is aligned top-left:
query i sees keys 0…i.

Multi-head attention runs n_head small attentions side by side, each on its own projection of the
input to head_dim = d_model / n_head channels, concatenates their outputs and mixes them with one
output projection. `MultiHeadAttentionFromHeads` does literally that with a Python loop over
`AttentionHead`s; `FusedMultiHeadAttention` does the same arithmetic with one big projection and a
batched kernel, the way real models do. Tests prove all of them equal to torch's own.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llm_playground.errors import PlaygroundError


# ---------------------------------------------------------------------------------------------
# NumPy


def softmax_numpy(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax that cannot overflow: subtracting the row maximum leaves the result unchanged.

    >>> softmax_numpy(np.array([1.0, 1.0])).tolist()
    [0.5, 0.5]
    """
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exp = np.exp(shifted)  # exp(-inf) = 0: masked positions get no weight
    return exp / np.sum(exp, axis=axis, keepdims=True)


def causal_mask_numpy(t_q: int, t_k: int) -> np.ndarray:
    """True where query i may look at key j (j ≤ i), shape (t_q, t_k).

    >>> causal_mask_numpy(3, 3).astype(int).tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    return np.tril(np.ones((t_q, t_k), dtype=bool))


def attention_weights_numpy(q: np.ndarray, k: np.ndarray, causal: bool = False) -> np.ndarray:
    """softmax(Q Kᵀ / √d) with an optional causal mask: shape (..., T_q, T_k), rows sum to 1."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if causal:
        scores = np.where(causal_mask_numpy(q.shape[-2], k.shape[-2]), scores, -np.inf)
    return softmax_numpy(scores, axis=-1)


def attention_numpy(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False) -> np.ndarray:
    """Scaled dot-product attention in NumPy: q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) →
    (..., T_q, d_v). Leading dimensions (batch, heads) broadcast."""
    _check_shapes(q.shape, k.shape, v.shape)
    return attention_weights_numpy(q, k, causal) @ v


# ---------------------------------------------------------------------------------------------
# torch (the same lines, so the two read side by side)


def attention_weights_torch(q: torch.Tensor, k: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """softmax(Q Kᵀ / √d) with an optional causal mask: shape (..., T_q, T_k), rows sum to 1."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if causal:
        allowed = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1)


def attention_torch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention in torch, equal to `F.scaled_dot_product_attention(q, k, v,
    is_causal=causal)`: q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) → (..., T_q, d_v)."""
    _check_shapes(tuple(q.shape), tuple(k.shape), tuple(v.shape))
    return attention_weights_torch(q, k, causal) @ v


def _check_shapes(q: tuple, k: tuple, v: tuple) -> None:
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise PlaygroundError("q, k and v need at least two dimensions: (..., tokens, channels)")
    if q[-1] != k[-1]:
        raise PlaygroundError(f"queries and keys must have the same width (q {q[-1]}, k {k[-1]})")
    if k[-2] != v[-2]:
        raise PlaygroundError(f"keys and values must have the same number of tokens (k {k[-2]}, v {v[-2]})")


# ---------------------------------------------------------------------------------------------
# Multi-head attention, two ways


class AttentionHead(nn.Module):
    """One head: its own query/key/value projections of the input, then scaled dot-product attention."""

    def __init__(self, d_model: int, head_dim: int, *, causal: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, head_dim, bias=bias)
        self.key = nn.Linear(d_model, head_dim, bias=bias)
        self.value = nn.Linear(d_model, head_dim, bias=bias)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d_model) → (B, T, head_dim)."""
        return attention_torch(self.query(x), self.key(x), self.value(x), self.causal)


def _check_heads(d_model: int, n_head: int) -> None:
    if n_head < 1 or d_model % n_head:
        raise PlaygroundError(f"d_model {d_model} must be divisible by n_head {n_head}")


class MultiHeadAttentionFromHeads(nn.Module):
    """Multi-head attention as the paper draws it: n_head separate heads, concatenated, projected."""

    def __init__(self, d_model: int, n_head: int, *, causal: bool = True, bias: bool = True) -> None:
        super().__init__()
        _check_heads(d_model, n_head)
        self.heads = nn.ModuleList(
            AttentionHead(d_model, d_model // n_head, causal=causal, bias=bias) for _ in range(n_head))
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d_model) → (B, T, d_model)."""
        per_head = [head(x) for head in self.heads]  # n_head × (B, T, head_dim)
        return self.out_proj(torch.cat(per_head, dim=-1))  # (B, T, n_head · head_dim) → (B, T, d_model)


class FusedMultiHeadAttention(nn.Module):
    """The same computation in one go: a single (d_model → 3·d_model) projection, heads as a batch
    dimension, and torch's fused attention kernel."""

    def __init__(self, d_model: int, n_head: int, *, causal: bool = True, bias: bool = True) -> None:
        super().__init__()
        _check_heads(d_model, n_head)
        self.n_head = n_head
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # rows: all queries, all keys, all values
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, d_model) → (B, T, d_model)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, nh, T, hs)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))  # heads side by side again

    @classmethod
    def from_heads(cls, mha: MultiHeadAttentionFromHeads) -> "FusedMultiHeadAttention":
        """A fused module computing exactly what `mha` computes: head h's query rows become rows
        h·hs…(h+1)·hs of the query block of `qkv`, and likewise for keys and values."""
        first = mha.heads[0]
        d_model, bias = first.query.in_features, first.query.bias is not None
        fused = cls(d_model, len(mha.heads), causal=first.causal, bias=bias)
        with torch.no_grad():
            fused.qkv.weight.copy_(torch.cat([
                torch.cat([getattr(head, part).weight for head in mha.heads]) for part in ("query", "key", "value")]))
            if bias:
                fused.qkv.bias.copy_(torch.cat([
                    torch.cat([getattr(head, part).bias for head in mha.heads]) for part in ("query", "key", "value")]))
            fused.out_proj.load_state_dict(mha.out_proj.state_dict())
        return fused

    def to_torch(self) -> nn.MultiheadAttention:
        """`torch.nn.MultiheadAttention` (batch_first) with the same weights; it packs q, k, v the same way."""
        d_model = self.out_proj.in_features
        bias = self.qkv.bias is not None
        reference = nn.MultiheadAttention(d_model, self.n_head, bias=bias, batch_first=True)
        with torch.no_grad():
            reference.in_proj_weight.copy_(self.qkv.weight)
            reference.out_proj.weight.copy_(self.out_proj.weight)
            if bias:
                reference.in_proj_bias.copy_(self.qkv.bias)
                reference.out_proj.bias.copy_(self.out_proj.bias)
        return reference
