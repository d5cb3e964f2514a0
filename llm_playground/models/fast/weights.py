"""A decoder's weights laid out for fast decoding: fused matrices in one storage precision.

Covers the three decoder families of our readable `Transformer` (models/transformer.py): Llama
(SmolLM2), Gemma-3 and GPT-2, and any config that mixes their switches. Per block:
- q, k and v projections are stacked into one (nh·hs + 2·nkv·hs, C) matrix `qkv` (and their
  biases into one vector), so one pass over the input makes all three;
- gated MLPs (SwiGLU, GeGLU) stack gate and up into one (2I, C) matrix `gate_up`; GPT-2's plain
  MLP keeps its up projection alone there (I, C);
- o_proj and down_proj stay as they are;
- Gemma's RMSNorms scale by (1 + w): the scale is stored as (1 + w) in fp32 (what
  `RMSNorm(unit_offset=True)` multiplies by), so every norm here is "x normalised, times a scale
  (plus a bias for LayerNorm)".
The output head (V, C) is packed like the others, except in int4, where it is int8 (as llama.cpp's
4-bit files keep their output matrix at higher precision: the head decides every token). The token
embedding (and GPT-2's learned positions) stay fp32 tables (a lookup reads one row per token).

SmolLM2's zoo weights were converted from a Q4_1 GGUF (4 bits, groups of 32 along the input, a
scale and a minimum per group): every block matrix is therefore exactly representable in our int4
format, which recovers it bit for bit; only the head (8-bit in the GGUF) is rounded.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models.config import TransformerConfig
from llm_playground.models.fast.kernels import GROUP, PRECISIONS, PackedWeight, pack


HEAD_PRECISION = {"int4": "int8"}  # the output head's storage where it differs from the blocks'

ACTIVATIONS = {("swiglu", "tanh"): "silu", ("swiglu", "none"): "silu", ("geglu", "tanh"): "gelu_tanh",
               ("geglu", "none"): "gelu", ("gelu", "tanh"): "gelu_tanh", ("gelu", "none"): "gelu"}
"""(config.mlp, config.gelu_approximate) → the activation of the MLP's hidden layer."""


@dataclass
class Norm:
    """RMSNorm (bias None) or LayerNorm (with a bias, or without when the config has none):
    out = normalised(x) · scale (+ bias)."""

    scale: torch.Tensor
    """(width,) fp32; for Gemma's unit-offset RMSNorm already (1 + w)."""
    bias: torch.Tensor | None = None
    """(width,) fp32, LayerNorm only."""


@dataclass
class FastLayer:
    """One block's weights: norms, four packed matrices, their biases (GPT-2), attention settings."""

    attn_norm: Norm
    qkv: PackedWeight
    o: PackedWeight
    mlp_norm: Norm
    gate_up: PackedWeight
    """(2I, C) gate rows then up rows for gated MLPs; (I, C) the up projection for GPT-2's."""
    down: PackedWeight
    qkv_bias: torch.Tensor | None = None
    o_bias: torch.Tensor | None = None
    gate_up_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None
    q_norm: Norm | None = None
    """Gemma-3: RMSNorm over each query head (hs,) before RoPE."""
    k_norm: Norm | None = None
    post_attn_norm: Norm | None = None
    """Gemma-3's sandwich norms: the branch outputs are normalised before they join the stream."""
    post_mlp_norm: Norm | None = None
    window: int = 0
    """Sliding-window layers see only the last `window` positions (themselves included); 0 = all."""
    rope_theta: float = 10000.0
    """The RoPE base of this layer (Gemma-3's sliding layers have their own)."""


@dataclass
class FastWeights:
    """Every weight the decoder needs, in one precision."""

    config: TransformerConfig
    precision: str
    embedding: torch.Tensor
    """(V, C) fp32: token id → residual stream (times `embedding_scale`)."""
    layers: list[FastLayer]
    final_norm: Norm
    head: PackedWeight
    """(V, C): residual stream → logits."""
    positions: torch.Tensor | None = None
    """(block_size, C) fp32 learned position vectors (GPT-2), added after the token embedding."""
    embedding_scale: float = 1.0
    """Gemma: sqrt(C) rounded to fp32; 1 elsewhere."""
    activation: str = "silu"
    """The MLP's activation: "silu", "gelu_tanh" or "gelu" (exact, erf)."""

    @property
    def gated(self) -> bool:
        """True for SwiGLU / GeGLU (gate_up holds gate and up), False for GPT-2's MLP (up only)."""
        return self.config.mlp != "gelu"

    @property
    def uses_rope(self) -> bool:
        return self.config.positions == "rope"

    @property
    def matrix_bytes(self) -> int:
        """Bytes of matrices streamed per decode step (every block's four plus the head)."""
        return self.head.nbytes + sum(m.nbytes for layer in self.layers
                                      for m in (layer.qkv, layer.o, layer.gate_up, layer.down))


def check_supported(config: TransformerConfig) -> None:
    """Raise PlaygroundError unless the fast decoder implements this config.

    Every architecture our readable `Transformer` builds is implemented (Llama, Gemma-3, GPT-2 and
    mixes of their switches); the kernels step through inputs 32 at a time, so the widths every
    matrix reads must be multiples of 32."""
    widths = {"n_embd": config.n_embd, "intermediate_size": config.intermediate_size,
              "n_head·head_dim": config.n_head * config.head_dim}
    for name, width in widths.items():
        if width % GROUP:
            raise PlaygroundError(f"the fast engine needs {name} to be a multiple of {GROUP} (got {width} in "
                                  f"{config.name}); use the native backend")
    if (config.mlp, config.gelu_approximate) not in ACTIVATIONS:
        raise PlaygroundError(f"the fast engine has no {config.mlp}/{config.gelu_approximate} MLP; use the native backend")


def _vector(parameter) -> torch.Tensor | None:
    return None if parameter is None else parameter.detach().float().contiguous()


def _norm(module) -> Norm:
    """Our LayerNorm / RMSNorm module → the scale (and bias) that the fast step multiplies by."""
    weight = module.weight.detach().float()
    if getattr(module, "unit_offset", False):
        weight = 1.0 + weight  # what RMSNorm(unit_offset=True) multiplies by, computed the same way (fp32)
    return Norm(scale=weight.contiguous(), bias=_vector(getattr(module, "bias", None)))


def _cat_bias(*linears) -> torch.Tensor | None:
    biases = [linear.bias for linear in linears]
    return None if biases[0] is None else torch.cat([b.detach().float() for b in biases]).contiguous()


def from_transformer(model, precision: str = "fp32") -> FastWeights:
    """Fuse and pack the weights of a `Transformer` (the model itself is not changed)."""
    if precision not in PRECISIONS:
        raise PlaygroundError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    config = model.config
    check_supported(config)
    with torch.no_grad():
        layers = []
        for index, block in enumerate(model.blocks):
            attn, mlp = block.attn, block.mlp
            qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])  # (nh·hs + 2nkv·hs, C)
            gated = mlp.gate_proj is not None
            gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]) if gated else mlp.up_proj.weight
            sliding = config.layer_type(index) == "sliding"
            layers.append(FastLayer(
                attn_norm=_norm(block.attn_norm), qkv=pack(qkv, precision), o=pack(attn.o_proj.weight, precision),
                mlp_norm=_norm(block.mlp_norm), gate_up=pack(gate_up, precision),
                down=pack(mlp.down_proj.weight, precision),
                qkv_bias=_cat_bias(attn.q_proj, attn.k_proj, attn.v_proj), o_bias=_vector(attn.o_proj.bias),
                gate_up_bias=_cat_bias(mlp.gate_proj, mlp.up_proj) if gated else _vector(mlp.up_proj.bias),
                down_bias=_vector(mlp.down_proj.bias),
                q_norm=_norm(attn.q_norm) if attn.q_norm is not None else None,
                k_norm=_norm(attn.k_norm) if attn.k_norm is not None else None,
                post_attn_norm=_norm(block.post_attn_norm) if block.post_attn_norm is not None else None,
                post_mlp_norm=_norm(block.post_mlp_norm) if block.post_mlp_norm is not None else None,
                window=config.sliding_window if sliding else 0,
                rope_theta=config.rope_local_theta if sliding else config.rope_theta))
        scale = torch.tensor(config.n_embd ** 0.5, dtype=torch.float32).item() if config.embedding_scale else 1.0
        return FastWeights(
            config=config, precision=precision, embedding=model.wte.weight.detach().float().contiguous(),
            layers=layers, final_norm=_norm(model.norm_f),
            head=pack(model.lm_head.weight, HEAD_PRECISION.get(precision, precision)),
            positions=model.wpe.weight.detach().float().contiguous() if model.wpe is not None else None,
            embedding_scale=scale, activation=ACTIVATIONS[(config.mlp, config.gelu_approximate)])
