"""`FastDecoder`: batch-1 Llama inference built for speed on a CPU, from our readable model's weights.

    decoder = FastDecoder.from_transformer(model, precision="int8")   # fp32 | bf16 | int8 | int4
    decoder.reset(max_length=len(prompt) + 128)                        # allocates the static KV cache
    logits = decoder.forward(prompt_ids)                               # (V,) after the prompt (prefill)
    logits = decoder.forward([next_id])                                # (V,) one decode step

What makes it fast (the readable `Transformer` does none of this, on purpose):
- one C call per step (`_decode.c`): no Python, no tensor allocation per layer or per token;
- fused matrices (qkv, gate_up: weights.py) and a pre-allocated static KV cache;
- RoPE tables computed once for the whole cache;
- in bf16 / int8 / int4, fewer bytes per weight to stream from memory (kernels.py).
fp32 computes what the readable model computes (logits agree to ~1e-5, and greedy text equals
transformers'); the other precisions change the weights, so their outputs drift (the benchmark
`llmpg bench generate` reports by how much).

Without the compiled kernels (no AVX-512 or no gcc) the same steps run in plain torch
(reference.py): slower, same numbers.
"""
from __future__ import annotations

import ctypes
import warnings
from typing import Sequence

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models.fast import kernels
from llm_playground.models.fast.reference import reference_forward
from llm_playground.models.fast.weights import FastWeights, from_transformer
from llm_playground.models.transformer import rope_tables


class FastDecoder:
    """A decode-only Llama over `FastWeights`, with its own static KV cache (batch 1).

    Several decoders may share one `FastWeights` (each has its own cache); one decoder serves one
    sequence at a time.
    """

    def __init__(self, weights: FastWeights, *, use_kernels: bool = True, chunk: int = 128,
                 threads: int | None = None) -> None:
        """
        Args:
            weights: packed weights (`weights.from_transformer`).
            use_kernels: run the compiled C step when it can be built; False forces plain torch.
            chunk: most tokens one C call processes (a longer prompt runs in chunks of this size).
            threads: OpenMP threads of the C step (default: torch.get_num_threads() at each call).
        """
        self.weights = weights
        self.config = weights.config
        self.precision = weights.precision
        self.chunk = chunk
        self.threads = threads
        self.library = kernels.load_library() if use_kernels else None
        if use_kernels and self.library is None:
            warnings.warn(f"fast engine: {kernels.library_status()}; running the plain-torch reference of the "
                          "same step instead (same numbers, much slower)", RuntimeWarning, stacklevel=2)
        self.position = 0
        """How many positions of the cache are filled (the position of the next token)."""
        self.max_length = 0
        self._model: kernels.CModel | None = None

    @classmethod
    def from_transformer(cls, model, precision: str = "fp32", **options) -> "FastDecoder":
        """Pack a Llama-family `Transformer`'s weights in `precision` (the model is left as it is)."""
        return cls(from_transformer(model, precision), **options)

    @property
    def uses_kernels(self) -> bool:
        """True when steps run in the compiled C code, False when in plain torch."""
        return self.library is not None

    @property
    def engine(self) -> str:
        """One line saying what runs the steps."""
        return ("compiled C kernels (AVX-512, OpenMP)" if self.uses_kernels
                else f"plain torch ({kernels.library_status()})")

    # --- the cache -------------------------------------------------------------------------
    def reset(self, max_length: int) -> None:
        """Forget every position; make room for `max_length` tokens (reallocates only to grow)."""
        cfg = self.config
        if max_length > cfg.block_size:
            raise PlaygroundError(f"{max_length} tokens do not fit in {cfg.name}'s context of {cfg.block_size}; "
                                  "shorten the prompt or generate fewer tokens")
        self.position = 0
        if max_length <= self.max_length:
            return
        self.max_length = max_length
        shape = (cfg.n_layer, cfg.n_kv_head, max_length, cfg.head_dim)
        self.keys, self.values = torch.zeros(shape), torch.zeros(shape)  # (L, nkv, max_len, hs)
        self.rope_cos, self.rope_sin = rope_tables(cfg.head_dim, max_length, cfg.rope_theta)  # (max_len, hs)
        self._model = self._c_model() if self.library is not None else None

    def _c_model(self) -> kernels.CModel:
        """The C view of weights, cache and scratch buffers (the tensors are kept on self)."""
        cfg, w, T = self.config, self.weights, self.chunk
        nh, nkv, hs, C, I = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_embd, cfg.intermediate_size
        self._scratch = {
            "x": torch.empty(T, C), "h": torch.empty(T, C), "qkv": torch.empty(T, (nh + 2 * nkv) * hs),
            "att": torch.empty(T, nh * hs), "gu": torch.empty(T, 2 * I), "act": torch.empty(T, I),
            "scores": torch.empty(T, nh, self.max_length),
            "xsum": torch.empty(T, max(C, I, nh * hs) // kernels.GROUP),
        }
        self._layers = (kernels.CLayer * cfg.n_layer)(*[
            kernels.CLayer(layer.attn_norm.data_ptr(), layer.mlp_norm.data_ptr(), kernels.c_linear(layer.qkv),
                           kernels.c_linear(layer.o), kernels.c_linear(layer.gate_up), kernels.c_linear(layer.down),
                           self.keys[i].data_ptr(), self.values[i].data_ptr())
            for i, layer in enumerate(w.layers)])
        model = kernels.CModel(
            n_layer=cfg.n_layer, n_embd=C, n_head=nh, n_kv_head=nkv, head_dim=hs, intermediate=I,
            vocab=cfg.vocab_size, max_len=self.max_length, max_tokens=T, threads=1,
            eps=cfg.norm_eps, attn_scale=cfg.attn_scale if cfg.attn_scale is not None else hs ** -0.5,
            embedding=w.embedding.data_ptr(), rope_cos=self.rope_cos.data_ptr(), rope_sin=self.rope_sin.data_ptr(),
            final_norm=w.final_norm.data_ptr(), head=kernels.c_linear(w.head),
            layers=ctypes.cast(self._layers, ctypes.POINTER(kernels.CLayer)),
            **{name: tensor.data_ptr() for name, tensor in self._scratch.items()})
        return model

    # --- steps -----------------------------------------------------------------------------
    def forward(self, token_ids: Sequence[int] | torch.Tensor, *, all_logits: bool = False) -> torch.Tensor:
        """Feed tokens at the next positions; logits (V,) after the last one, or (T, V) for each.

        The cache must have room (`reset(max_length)` first); the returned tensor is new (not a
        view of a buffer that the next call overwrites).
        """
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1)
        T = tokens.shape[0]
        if T == 0:
            raise PlaygroundError("forward needs at least one token")
        if self.position + T > self.max_length:
            raise PlaygroundError(f"the KV cache holds {self.max_length} tokens; {self.position} are filled and "
                                  f"{T} more do not fit. Call reset() with a larger max_length.")
        if int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size:
            raise PlaygroundError(f"token ids must be in [0, {self.config.vocab_size})")
        if self._model is None:
            logits = reference_forward(self.weights, self.keys, self.values, self.rope_cos, self.rope_sin,
                                       tokens, self.position)
            self.position += T
            return logits if all_logits else logits[-1]
        self._model.threads = self.threads or torch.get_num_threads()
        pieces = []
        for start in range(0, T, self.chunk):
            part = tokens[start:start + self.chunk].contiguous()
            last_chunk = start + self.chunk >= T
            rows = part.shape[0] if all_logits else 1  # without all_logits, C writes the last row only
            out = torch.empty(rows, self.config.vocab_size)
            with kernels.call_lock:
                self.library.forward(ctypes.byref(self._model), part.data_ptr(), part.shape[0], self.position,
                                     out.data_ptr(), int(all_logits))
            self.position += part.shape[0]
            if all_logits or last_chunk:
                pieces.append(out)
        logits = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        return logits if all_logits else logits[-1]
