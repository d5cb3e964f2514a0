"""`KVCache`: a pre-allocated (static) key/value cache for incremental decoding.

Without a cache, generating token t+1 re-runs attention over all t earlier tokens. Keys and values
of earlier tokens never change (attention is causal), so we keep them: each step feeds only the
new tokens, writes their keys/values at positions [length, length + T) and attends over
[0, length + T).

Memory is allocated once, up front: per layer a (batch, n_kv_head, max_length, head_dim) tensor
for keys and one for values, so a decode step never reallocates. With grouped-query attention
only the n_kv_head key/value heads are stored (SmolLM2: 3 instead of 9, a third of the memory).

Protocol (what `Transformer.forward(idx, cache=cache)` does):
    1. every attention layer calls `cache.update(layer_index, k, v)` with the new tokens' keys and
       values and attends over what it returns;
    2. after the last layer the model calls `cache.advance(T)`.
`length` is how many positions are filled; `crop(n)` forgets all but the first n (speculative
decoding, retries); `reorder(beam_indices)` picks rows of the batch (beam search).
"""
from __future__ import annotations

import torch

from llm_playground.errors import PlaygroundError


class KVCache:
    """Keys and values of every layer for `batch_size` sequences of up to `max_length` tokens."""

    def __init__(self, *, n_layer: int, batch_size: int, n_kv_head: int, head_dim: int, max_length: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        if batch_size < 1 or max_length < 1:
            raise PlaygroundError(f"a KV cache needs batch_size ≥ 1 and max_length ≥ 1 "
                                  f"(got {batch_size}, {max_length})")
        shape = (n_layer, batch_size, n_kv_head, max_length, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)    # (L, B, nkv, max_length, hs)
        self.values = torch.zeros(shape, dtype=dtype, device=device)  # (L, B, nkv, max_length, hs)
        self.length = 0
        """How many positions (tokens) of every sequence are filled."""

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def max_length(self) -> int:
        return self.keys.shape[3]

    @property
    def nbytes(self) -> int:
        """Memory held by the cache, in bytes."""
        return self.keys.nbytes + self.values.nbytes

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' keys/values of `layer` after the filled part; return all of them.

        k, v: (B, nkv, T, hs) for the T new tokens. Returns views (B, nkv, length + T, hs).
        `length` itself moves only in `advance`, once every layer has been updated.
        """
        end = self.length + k.shape[2]
        if end > self.max_length:
            raise PlaygroundError(f"the KV cache holds {self.max_length} tokens; {self.length} are filled and "
                                  f"{k.shape[2]} more do not fit. Allocate a longer cache.")
        if k.shape[0] != self.batch_size:
            raise PlaygroundError(f"the KV cache was allocated for batch size {self.batch_size}, got {k.shape[0]}")
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n_tokens: int) -> None:
        """Mark `n_tokens` more positions as filled (called by the model after its last layer)."""
        self.length += n_tokens

    def crop(self, n: int) -> None:
        """Keep only the first `n` positions (the rest is overwritten by later updates)."""
        if not 0 <= n <= self.length:
            raise PlaygroundError(f"cannot crop a KV cache of length {self.length} to {n}")
        self.length = n

    def reset(self) -> None:
        """Forget everything (same as crop(0)); the memory stays allocated."""
        self.length = 0

    def reorder(self, beam_indices: torch.Tensor | list[int]) -> None:
        """Replace the batch rows by rows `beam_indices` (beam search keeps the best continuations).

        beam_indices: (B,) integer indices into the current batch; a row may be picked several
        times. The batch size stays the same.
        """
        index = torch.as_tensor(beam_indices, dtype=torch.long, device=self.keys.device)
        if index.shape != (self.batch_size,):
            raise PlaygroundError(f"reorder needs {self.batch_size} beam indices, got shape {tuple(index.shape)}")
        filled = slice(0, self.length)  # only the filled part matters; the buffers stay in place
        self.keys[:, :, :, filled] = self.keys[:, index, :, filled]
        self.values[:, :, :, filled] = self.values[:, index, :, filled]

    def repeated(self, batch_size: int, max_length: int | None = None) -> "KVCache":
        """A new cache of `batch_size` rows, each starting with this (batch 1) cache's filled prefix.

        Scoring several continuations of one context computes the context once, then scores the
        continuations side by side from copies of its keys and values.
        """
        if self.batch_size != 1:
            raise PlaygroundError(f"only a batch-1 cache can be repeated (this one has {self.batch_size} rows)")
        n_layer, _, n_kv_head, _, head_dim = self.keys.shape
        copy = KVCache(n_layer=n_layer, batch_size=batch_size, n_kv_head=n_kv_head, head_dim=head_dim,
                       max_length=max_length or self.max_length, dtype=self.keys.dtype, device=self.keys.device)
        if self.length > copy.max_length:
            raise PlaygroundError(f"the repeated cache ({copy.max_length} tokens) cannot hold the {self.length} filled ones")
        filled = slice(0, self.length)
        copy.keys[:, :, :, filled] = self.keys[:, :, :, filled]      # (L, 1, …) broadcast over the rows
        copy.values[:, :, :, filled] = self.values[:, :, :, filled]
        copy.length = self.length
        return copy

    def __repr__(self) -> str:
        n_layer, batch, n_kv_head, max_length, head_dim = self.keys.shape
        return (f"KVCache(length={self.length}/{max_length}, layers={n_layer}, batch={batch}, "
                f"kv_heads={n_kv_head}, head_dim={head_dim}, {self.nbytes / 2**20:.1f} MiB)")
