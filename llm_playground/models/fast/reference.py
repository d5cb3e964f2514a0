"""The step of `FastDecoder` in plain torch: what `_decode.c` computes, written to be read.

It runs on the fused, packed weights of `FastWeights` (dequantized to fp32 for every matmul), over
the same static cache layout, so the tests can compare the C step against it token by token. It is
also the fallback where the C kernels cannot be built (slower, same numbers).

One block, for every family (the switches come from the config, see weights.py):

    h = norm(x)                                  RMSNorm (Llama, Gemma: scale 1 + w) or LayerNorm (GPT-2)
    q, k, v = split(h @ qkvᵀ + bias)             one fused matmul
    q, k = q_norm(q), k_norm(k)                  Gemma-3: RMSNorm over each head
    q, k = rope(q), rope(k)                      Llama, Gemma (sliding layers at their own base); not GPT-2
    y = attention(q, cache k, cache v) @ oᵀ      causal; sliding layers see the last `window` positions
    x = x + post_attn_norm(y)                    Gemma-3's sandwich norm (else y itself)
    h = act(gate(h')) · up(h')  or  act(up(h'))  h' = mlp_norm(x); SwiGLU, GeGLU, or GPT-2's GELU MLP
    x = x + post_mlp_norm(h @ downᵀ)

Shapes: T new tokens at positions pos … pos+T-1; C = n_embd, hs = head_dim, nh / nkv heads.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from llm_playground.models.fast.kernels import dequantize
from llm_playground.models.fast.weights import FastWeights, Norm


def normalize(x: torch.Tensor, norm: Norm, eps: float) -> torch.Tensor:
    """RMSNorm (no bias): scale · x / sqrt(mean(x²) + eps); LayerNorm (a bias): scale · (x - mean) / std + bias."""
    if norm.bias is None:
        return norm.scale * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    return F.layer_norm(x, norm.scale.shape, norm.scale, norm.bias, eps)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE: x (heads, T, hs) rotated by (cos, sin) (T, hs), pairing dimension i with i + hs/2."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def linear(x: torch.Tensor, weight, bias: torch.Tensor | None) -> torch.Tensor:
    y = x @ dequantize(weight).T
    return y + bias if bias is not None else y


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "silu":
        return F.silu(x)
    return F.gelu(x, approximate="tanh" if activation == "gelu_tanh" else "none")


@torch.no_grad()
def reference_forward(weights: FastWeights, keys: torch.Tensor, values: torch.Tensor,
                      rope: dict[float, tuple[torch.Tensor, torch.Tensor]], tokens: torch.Tensor,
                      pos: int) -> torch.Tensor:
    """Run tokens (T,) at positions pos … pos+T-1; write their keys/values; return logits (T, V).

    keys, values: the cache, (n_layer, nkv, max_len, hs), filled for positions < pos.
    rope: RoPE base → its (cos, sin) tables, (max_len, hs) each (empty for learned positions).
    """
    cfg = weights.config
    nh, nkv, hs, eps = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.norm_eps
    T = tokens.shape[0]
    S = pos + T                                        # positions attended to after this step
    query_positions, key_positions = torch.arange(pos, S)[:, None], torch.arange(S)[None, :]
    x = weights.embedding[tokens]                      # (T, C)
    if weights.embedding_scale != 1.0:
        x = x * weights.embedding_scale
    if weights.positions is not None:
        x = x + weights.positions[pos:S]               # learned position vectors (GPT-2)
    for i, layer in enumerate(weights.layers):
        h = normalize(x, layer.attn_norm, eps)
        q, k, v = linear(h, layer.qkv, layer.qkv_bias).split([nh * hs, nkv * hs, nkv * hs], dim=-1)
        q, k, v = (t.view(T, -1, hs).transpose(0, 1) for t in (q, k, v))  # (heads, T, hs)
        if layer.q_norm is not None:
            q, k = normalize(q, layer.q_norm, eps), normalize(k, layer.k_norm, eps)
        if weights.uses_rope:
            cos, sin = (table[pos:S] for table in rope[layer.rope_theta])  # (T, hs)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        keys[i, :, pos:S], values[i, :, pos:S] = k, v
        mask = key_positions <= query_positions        # (T, S): query t sees keys ≤ pos + t …
        if layer.window:
            mask &= key_positions > query_positions - layer.window  # … and, sliding, only the last `window`
        y = F.scaled_dot_product_attention(q, keys[i, :, :S], values[i, :, :S], attn_mask=mask,
                                           scale=cfg.attn_scale, enable_gqa=True)  # (nh, T, hs)
        y = linear(y.transpose(0, 1).reshape(T, nh * hs), layer.o, layer.o_bias)
        x = x + (normalize(y, layer.post_attn_norm, eps) if layer.post_attn_norm is not None else y)
        h = linear(normalize(x, layer.mlp_norm, eps), layer.gate_up, layer.gate_up_bias)
        if weights.gated:
            gate, up = h.chunk(2, dim=-1)
            h = activate(gate, weights.activation) * up
        else:
            h = activate(h, weights.activation)
        y = linear(h, layer.down, layer.down_bias)
        x = x + (normalize(y, layer.post_mlp_norm, eps) if layer.post_mlp_norm is not None else y)
    return normalize(x, weights.final_norm, eps) @ dequantize(weights.head).T  # (T, V)
