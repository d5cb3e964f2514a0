"""The decode step of `FastDecoder` in plain torch: what `_decode.c` computes, written to be read.

It runs on the fused, packed weights of `FastWeights` (dequantized to fp32 for every matmul), over
the same static cache layout, so the tests can compare the C step against it token by token. It is
also the fallback where the C kernels cannot be built (slower, same numbers).

Shapes: T new tokens at positions pos … pos+T-1; C = n_embd, hs = head_dim, nh / nkv heads.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from llm_playground.models.fast.kernels import dequantize
from llm_playground.models.fast.weights import FastWeights


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """weight · x / sqrt(mean(x²) + eps) over the last dimension (Llama's RMSNorm)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE: x (heads, T, hs) rotated by (cos, sin) (T, hs), pairing dimension i with i + hs/2."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


@torch.no_grad()
def reference_forward(weights: FastWeights, keys: torch.Tensor, values: torch.Tensor, rope_cos: torch.Tensor,
                      rope_sin: torch.Tensor, tokens: torch.Tensor, pos: int) -> torch.Tensor:
    """Run tokens (T,) at positions pos … pos+T-1; write their keys/values; return logits (T, V).

    keys, values: the cache, (n_layer, nkv, max_len, hs), filled for positions < pos.
    rope_cos, rope_sin: (max_len, hs) tables.
    """
    cfg = weights.config
    nh, nkv, hs = cfg.n_head, cfg.n_kv_head, cfg.head_dim
    T = tokens.shape[0]
    S = pos + T                                        # positions attended to after this step
    cos, sin = rope_cos[pos:S], rope_sin[pos:S]        # (T, hs)
    mask = torch.arange(S)[None, :] <= torch.arange(pos, S)[:, None]  # (T, S) query t sees keys ≤ pos + t
    x = weights.embedding[tokens]                      # (T, C)
    for i, layer in enumerate(weights.layers):
        h = rms_norm(x, layer.attn_norm, cfg.norm_eps)
        qkv = h @ dequantize(layer.qkv).T              # (T, (nh + 2nkv)·hs)
        q, k, v = qkv.split([nh * hs, nkv * hs, nkv * hs], dim=-1)
        q = rotate(q.view(T, nh, hs).transpose(0, 1), cos, sin)   # (nh, T, hs)
        k = rotate(k.view(T, nkv, hs).transpose(0, 1), cos, sin)  # (nkv, T, hs)
        keys[i, :, pos:S], values[i, :, pos:S] = k, v.view(T, nkv, hs).transpose(0, 1)
        y = F.scaled_dot_product_attention(q, keys[i, :, :S], values[i, :, :S], attn_mask=mask,
                                           scale=cfg.attn_scale, enable_gqa=True)  # (nh, T, hs)
        x = x + y.transpose(0, 1).reshape(T, nh * hs) @ dequantize(layer.o).T
        gate, up = (rms_norm(x, layer.mlp_norm, cfg.norm_eps) @ dequantize(layer.gate_up).T).chunk(2, dim=-1)
        x = x + (F.silu(gate) * up) @ dequantize(layer.down).T
    return rms_norm(x, weights.final_norm, cfg.norm_eps) @ dequantize(weights.head).T  # (T, V)


@torch.no_grad()
def reference_decode_rows(weights: FastWeights, keys: torch.Tensor, values: torch.Tensor, rope_cos: torch.Tensor,
                          rope_sin: torch.Tensor, tokens: torch.Tensor, slots: list[int], positions: list[int],
                          min_rows: int = 1) -> torch.Tensor:
    """Tokens of several sequences in one pass, their matmuls batched: logits (S, V), one row per
    sequence (after its last token), in the order the sequences first appear.

    Row t is token tokens[t] of sequence slots[t] at position positions[t]; a sequence's rows are
    consecutive and in position order (a prompt to prefill, or one decode token). Keys/values go into
    that sequence's cache, (n_layer, sequences, nkv, max_len, hs). The weights are streamed once for
    all rows (one (T, K) × (K, N) matmul instead of one per sequence). Rows are padded to `min_rows`
    for the matmuls: MKL's sgemm gives a row the same bits for any M ≥ 4 but different ones below,
    so padding makes a row's logits independent of the other rows. Attention runs per sequence over
    its own cache, exactly as long as alone.
    """
    cfg = weights.config
    nh, nkv, hs = cfg.n_head, cfg.n_kv_head, cfg.head_dim
    T = tokens.shape[0]
    groups: list[list[int]] = []  # [slot, first row, rows]
    for row, slot in enumerate(slots):
        if groups and groups[-1][0] == slot:
            groups[-1][2] += 1
        else:
            groups.append([slot, row, 1])
    padded = torch.tensor(list(range(T)) + [T - 1] * max(0, min_rows - T))  # padding repeats the last row
    position_t = torch.tensor(positions)
    cos, sin = rope_cos[position_t][:, None], rope_sin[position_t][:, None]  # (T, 1, hs)
    x = weights.embedding[tokens[padded]]                 # (M, C)
    for i, layer in enumerate(weights.layers):
        h = rms_norm(x, layer.attn_norm, cfg.norm_eps)
        qkv = (h @ dequantize(layer.qkv).T)[:T]           # (T, (nh + 2nkv)·hs)
        q, k, v = qkv.split([nh * hs, nkv * hs, nkv * hs], dim=-1)
        q = rotate(q.view(T, nh, hs), cos, sin)           # (T, nh, hs)
        k = rotate(k.view(T, nkv, hs), cos, sin)          # (T, nkv, hs)
        v = v.view(T, nkv, hs)
        attended = torch.empty(padded.shape[0], nh * hs)
        for slot, first, count in groups:
            start, end, rows = positions[first], positions[first] + count, slice(first, first + count)
            keys[i, slot, :, start:end] = k[rows].transpose(0, 1)            # (nkv, count, hs)
            values[i, slot, :, start:end] = v[rows].transpose(0, 1)
            mask = None if count == 1 else torch.arange(end)[None, :] <= torch.arange(start, end)[:, None]
            y = F.scaled_dot_product_attention(q[rows].transpose(0, 1), keys[i, slot, :, :end],
                                               values[i, slot, :, :end], attn_mask=mask, scale=cfg.attn_scale,
                                               enable_gqa=True)  # (nh, count, hs)
            attended[rows] = y.transpose(0, 1).reshape(count, nh * hs)
        attended[T:] = attended[T - 1]
        x = x + attended @ dequantize(layer.o).T
        gate, up = (rms_norm(x, layer.mlp_norm, cfg.norm_eps) @ dequantize(layer.gate_up).T).chunk(2, dim=-1)
        x = x + (F.silu(gate) * up) @ dequantize(layer.down).T
    last = [first + count - 1 for _, first, count in groups]
    rows = torch.tensor(last + last[-1:] * max(0, min_rows - len(last)))
    return (rms_norm(x[rows], weights.final_norm, cfg.norm_eps) @ dequantize(weights.head).T)[:len(last)]  # (S, V)
