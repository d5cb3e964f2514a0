"""A Llama model's weights laid out for decoding: fused matrices in one storage precision.

From our readable `Transformer` (see models/transformer.py), per block:
- q, k and v projections are stacked into one (nh·hs + 2·nkv·hs, C) matrix `qkv`, so one pass
  over the input makes all three (one GEMV instead of three);
- gate and up projections are stacked into one (2I, C) matrix `gate_up`;
- o_proj and down_proj stay as they are.
The output head (V, C) — SmolLM2's largest matrix — is packed like the others, except in int4,
where it is int8 (as llama.cpp's 4-bit files keep their output matrix at higher precision: the
head decides every token). The token embedding stays an fp32 table (a lookup reads one row per
token, never the whole table).

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


@dataclass
class FastLayer:
    """One block's weights: two RMSNorm scales (C,) and four packed matrices."""

    attn_norm: torch.Tensor
    qkv: PackedWeight
    o: PackedWeight
    mlp_norm: torch.Tensor
    gate_up: PackedWeight
    down: PackedWeight


@dataclass
class FastWeights:
    """Every weight the decoder needs, in one precision."""

    config: TransformerConfig
    precision: str
    embedding: torch.Tensor
    """(V, C) fp32: token id → residual stream."""
    layers: list[FastLayer]
    final_norm: torch.Tensor
    """(C,)"""
    head: PackedWeight
    """(V, C): residual stream → logits."""

    @property
    def matrix_bytes(self) -> int:
        """Bytes of matrices streamed per decode step (every block's four plus the head)."""
        return self.head.nbytes + sum(m.nbytes for layer in self.layers
                                      for m in (layer.qkv, layer.o, layer.gate_up, layer.down))


def check_supported(config: TransformerConfig) -> None:
    """Raise PlaygroundError unless the fast decoder implements this architecture (the Llama family)."""
    if config.family != "llama":
        raise PlaygroundError(f"the fast engine implements the Llama family (SmolLM2), not {config.family} "
                              f"({config.name}); use --backend native or hf")
    widths = {"n_embd": config.n_embd, "intermediate_size": config.intermediate_size,
              "n_head·head_dim": config.n_head * config.head_dim}
    for name, width in widths.items():
        if width % GROUP:
            raise PlaygroundError(f"the fast engine needs {name} to be a multiple of {GROUP} (got {width}); "
                                  "use --backend native")


def from_transformer(model, precision: str = "fp32") -> FastWeights:
    """Fuse and pack the weights of a Llama-family `Transformer` (the model itself is not changed)."""
    if precision not in PRECISIONS:
        raise PlaygroundError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    config = model.config
    check_supported(config)
    with torch.no_grad():
        layers = []
        for block in model.blocks:
            attn, mlp = block.attn, block.mlp
            qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])  # (nh·hs + 2nkv·hs, C)
            gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])               # (2I, C)
            layers.append(FastLayer(
                attn_norm=block.attn_norm.weight.detach().float().contiguous(),
                qkv=pack(qkv, precision), o=pack(attn.o_proj.weight, precision),
                mlp_norm=block.mlp_norm.weight.detach().float().contiguous(),
                gate_up=pack(gate_up, precision), down=pack(mlp.down_proj.weight, precision)))
        return FastWeights(config=config, precision=precision,
                           embedding=model.wte.weight.detach().float().contiguous(), layers=layers,
                           final_norm=model.norm_f.weight.detach().float().contiguous(),
                           head=pack(model.lm_head.weight, HEAD_PRECISION.get(precision, precision)))
