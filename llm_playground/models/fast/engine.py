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
from llm_playground.models.fast.reference import reference_decode_rows, reference_forward
from llm_playground.models.fast.weights import FastWeights, from_transformer
from llm_playground.models.transformer import rope_tables


BATCH_INVARIANT_ROWS = 4
"""`decode_rows` computes at least this many rows: from 4 rows on, both the C kernels (4 × 4 register
tiles, in every precision) and MKL's sgemm (the plain-torch path) give a row the same bits whatever
the other rows are, so a sequence decodes identically alone and in any batch."""


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
            threads: threads of the C step (default: torch.get_num_threads() at each call, like torch's own ops).
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
        self.positions = [0]
        """How many positions of each sequence's cache are filled (the position of its next token)."""
        self.max_length = 0
        self.sequences = 0
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
        return ("compiled C kernels (AVX-512, work-claiming threads)" if self.uses_kernels
                else f"plain torch ({kernels.library_status()})")

    # --- the cache -------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """How many positions of sequence 0 are filled (the position of its next token)."""
        return self.positions[0]

    def reset(self, max_length: int, *, sequences: int = 1) -> None:
        """Forget every position; make room for `sequences` sequences of `max_length` tokens.

        Memory is reallocated only when it must grow.
        """
        cfg = self.config
        if max_length > cfg.block_size:
            raise PlaygroundError(f"{max_length} tokens do not fit in {cfg.name}'s context of {cfg.block_size}; "
                                  "shorten the prompt or generate fewer tokens")
        if sequences < 1:
            raise PlaygroundError(f"sequences must be ≥ 1 (got {sequences})")
        self.positions = [0] * sequences
        if max_length <= self.max_length and sequences <= self.sequences:
            return
        self.max_length, self.sequences = max(max_length, self.max_length), max(sequences, self.sequences)
        shape = (cfg.n_layer, self.sequences, cfg.n_kv_head, self.max_length, cfg.head_dim)
        self.keys, self.values = torch.zeros(shape), torch.zeros(shape)  # (L, sequences, nkv, max_len, hs)
        self.rope_cos, self.rope_sin = rope_tables(cfg.head_dim, self.max_length, cfg.rope_theta)  # (max_len, hs)
        self._model = self._c_model() if self.library is not None else None

    def _c_model(self) -> kernels.CModel:
        """The C view of weights, cache and scratch buffers (the tensors are kept on self)."""
        cfg, w, T = self.config, self.weights, max(self.chunk, self.sequences)  # T: most rows per call
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
    def _check(self, tokens: torch.Tensor, sequence: int, count: int) -> None:
        if not 0 <= sequence < len(self.positions):
            raise PlaygroundError(f"sequence {sequence} does not exist; reset(…, sequences=N) makes N of them")
        if self.positions[sequence] + count > self.max_length:
            raise PlaygroundError(f"the KV cache holds {self.max_length} tokens; {self.positions[sequence]} are "
                                  f"filled and {count} more do not fit. Call reset() with a larger max_length.")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise PlaygroundError(f"token ids must be in [0, {self.config.vocab_size})")

    def _rows(self, tokens: torch.Tensor, slots: list[int], positions: list[int], all_logits: bool) -> torch.Tensor:
        """One C call: row t is token t of sequence slots[t] at positions[t] → logits (rows, V)."""
        out = torch.empty(tokens.shape[0] if all_logits else 1, self.config.vocab_size)
        slot_array = torch.tensor(slots, dtype=torch.int32)
        position_array = torch.tensor(positions, dtype=torch.int32)
        self._model.threads = self.threads or torch.get_num_threads()
        with kernels.call_lock:
            self.library.forward_rows(ctypes.byref(self._model), tokens.data_ptr(), slot_array.data_ptr(),
                                      position_array.data_ptr(), tokens.shape[0], out.data_ptr(), int(all_logits))
        return out

    def forward(self, token_ids: Sequence[int] | torch.Tensor, *, sequence: int = 0,
                all_logits: bool = False) -> torch.Tensor:
        """Feed tokens to one sequence at its next positions; logits (V,) after the last one, or (T, V).

        The cache must have room (`reset(max_length)` first); the returned tensor is new (not a
        view of a buffer that the next call overwrites).
        """
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        T = tokens.shape[0]
        if T == 0:
            raise PlaygroundError("forward needs at least one token")
        self._check(tokens, sequence, T)
        start = self.positions[sequence]
        if self._model is None:
            logits = reference_forward(self.weights, self.keys[:, sequence], self.values[:, sequence],
                                       self.rope_cos, self.rope_sin, tokens, start)
            self.positions[sequence] += T
            return logits if all_logits else logits[-1]
        pieces = []
        for first in range(0, T, self.chunk):
            part = tokens[first:first + self.chunk]
            last_chunk = first + self.chunk >= T
            positions = list(range(start + first, start + first + part.shape[0]))
            out = self._rows(part, [sequence] * part.shape[0], positions, all_logits)
            if all_logits or last_chunk:  # without all_logits, C writes the last row only
                pieces.append(out)
        self.positions[sequence] += T
        logits = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        return logits if all_logits else logits[-1]

    def copy_prefix(self, length: int, *, source: int = 0, targets: Sequence[int] | None = None) -> None:
        """Copy the first `length` cached positions of sequence `source` into sequences `targets`
        (default: every other one), which then continue from there (a shared context is computed once)."""
        targets = [s for s in range(len(self.positions)) if s != source] if targets is None else list(targets)
        if length > self.positions[source]:
            raise PlaygroundError(f"sequence {source} has {self.positions[source]} cached positions, not {length}")
        for target in targets:
            self.keys[:, target, :, :length] = self.keys[:, source, :, :length]
            self.values[:, target, :, :length] = self.values[:, source, :, :length]
            self.positions[target] = length

    def forward_rows(self, token_ids: Sequence[int], sequences: Sequence[int]) -> torch.Tensor:
        """Feed several sequences at once: token t goes to sequence `sequences[t]` at that sequence's
        next position (tokens of one sequence in order). Returns logits (T, V) for every row.

        The rows share passes over the weights: scoring 4 continuations of 10 tokens costs about
        what one 40-token prompt costs, not four."""
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        slots = [int(s) for s in sequences]
        if len(slots) != tokens.shape[0]:
            raise PlaygroundError(f"forward_rows needs one sequence per token ({tokens.shape[0]}), got {len(slots)}")
        counts: dict[int, int] = {}
        for slot in slots:
            counts[slot] = counts.get(slot, 0) + 1
        for slot, count in counts.items():
            self._check(tokens[:0], slot, count)
        self._check(tokens, 0, 0)
        positions = []
        for slot in slots:
            positions.append(self.positions[slot])
            self.positions[slot] += 1
        if self._model is None:  # plain torch: one sequence at a time, rows put back in their order
            logits = torch.empty(len(slots), self.config.vocab_size)
            for slot in counts:
                rows = [t for t, s in enumerate(slots) if s == slot]
                logits[rows] = reference_forward(self.weights, self.keys[:, slot], self.values[:, slot], self.rope_cos,
                                                 self.rope_sin, tokens[rows], positions[rows[0]])
            return logits
        step = self._model.max_tokens
        return torch.cat([self._rows(tokens[first:first + step], slots[first:first + step],
                                     positions[first:first + step], True)
                          for first in range(0, len(slots), step)])

    def step_batch(self, token_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """One token for every sequence (after `reset(…, sequences=B)` and a prefill of each):
        logits (B, V). The B rows share one pass over the weights, so B tokens cost little more
        than one (the matmuls become small matrix-matrix products)."""
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        if tokens.shape[0] != len(self.positions):
            raise PlaygroundError(f"step_batch needs one token per sequence ({len(self.positions)}), "
                                  f"got {tokens.shape[0]}")
        for sequence in range(len(self.positions)):
            self._check(tokens[sequence:sequence + 1], sequence, 1)
        if self._model is None:
            logits = torch.stack([
                reference_forward(self.weights, self.keys[:, b], self.values[:, b], self.rope_cos, self.rope_sin,
                                  tokens[b:b + 1], self.positions[b])[-1] for b in range(len(self.positions))])
        else:
            logits = self._rows(tokens, list(range(len(self.positions))), list(self.positions), True)
        self.positions = [p + 1 for p in self.positions]
        return logits

    def decode_rows(self, token_ids: Sequence[int], sequences: Sequence[int]) -> torch.Tensor:
        """One step for several sequences: token t goes to sequence `sequences[t]` at its next
        position, a sequence's tokens consecutive (one decode token, or a whole prompt to prefill).
        Returns logits (S, V): one row per sequence, after its last token, in order of appearance.

        What a continuous-batching scheduler calls every step, with whichever sequences are live and
        the prompts of those that join. The rows share one pass over the weights, and a sequence's
        logits do not depend on the other rows (rows are padded to BATCH_INVARIANT_ROWS), so its
        greedy output is the same alone and in a batch of 16. (With the compiled kernels, prompts are
        prefilled one by one, as `forward` does, and the decode tokens share one call.)"""
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        slots = [int(s) for s in sequences]
        if len(slots) != tokens.shape[0] or not slots:
            raise PlaygroundError(f"decode_rows needs one sequence per token ({tokens.shape[0]}), got {len(slots)}")
        groups: list[tuple[int, int, int]] = []  # (slot, first row, rows)
        for row, slot in enumerate(slots):
            if groups and groups[-1][0] == slot:
                groups[-1] = (slot, groups[-1][1], groups[-1][2] + 1)
            elif any(slot == seen for seen, _, _ in groups):
                raise PlaygroundError(f"decode_rows: the tokens of sequence {slot} must be consecutive")
            else:
                groups.append((slot, row, 1))
        for slot, first, count in groups:
            self._check(tokens[first:first + count], slot, count)
        if self._model is None:
            positions = [self.positions[slot] + row - first for slot, first, count in groups for row in
                         range(first, first + count)]
            logits = reference_decode_rows(self.weights, self.keys, self.values, self.rope_cos, self.rope_sin,
                                           tokens, slots, positions, BATCH_INVARIANT_ROWS)
            for slot, _, count in groups:
                self.positions[slot] += count
            return logits
        logits = torch.empty(len(groups), self.config.vocab_size)
        for index, (slot, first, count) in enumerate(groups):
            if count > 1:
                logits[index] = self.forward(tokens[first:first + count], sequence=slot)
        single = [(index, slot, first) for index, (slot, first, count) in enumerate(groups) if count == 1]
        if single:  # padding repeats the last row: the same key/value written twice to the same place
            pad = max(0, BATCH_INVARIANT_ROWS - len(single))
            rows = [first for _, _, first in single]
            row_slots = [slot for _, slot, _ in single]
            positions = [self.positions[slot] for slot in row_slots]
            out = self._rows(torch.cat([tokens[rows], tokens[rows[-1:]].repeat(pad)]), row_slots + row_slots[-1:] * pad,
                             positions + positions[-1:] * pad, True)
            for k, (index, slot, _) in enumerate(single):
                logits[index] = out[k]
                self.positions[slot] += 1
        return logits

    def grow(self, max_length: int, *, sequences: int) -> None:
        """Make room for longer or more sequences, keeping every cached position (a batch in flight
        goes on where it was). Memory is reallocated only when it must grow."""
        if max_length <= self.max_length and sequences <= self.sequences:
            self.positions += [0] * (sequences - len(self.positions))
            return
        keys, values, positions, old_length = getattr(self, "keys", None), getattr(self, "values", None), \
            list(self.positions), self.max_length
        self.reset(max(max_length, self.max_length), sequences=max(sequences, self.sequences))
        if keys is not None and keys is not self.keys and old_length:
            self.keys[:, :keys.shape[1], :, :old_length] = keys
            self.values[:, :values.shape[1], :, :old_length] = values
        self.positions = positions + [0] * (max(sequences, len(positions)) - len(positions))
