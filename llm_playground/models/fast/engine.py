"""`FastDecoder`: inference built for speed on a CPU, from our readable model's weights.

    decoder = FastDecoder.from_transformer(model, precision="int8")   # fp32 | bf16 | int8 | int4
    decoder.reset(max_length=len(prompt) + 128)                        # allocates the static KV cache
    logits = decoder.forward(prompt_ids)                               # (V,) after the prompt (prefill)
    logits = decoder.forward([next_id])                                # (V,) one decode step

Every decoder family our readable `Transformer` builds runs here: Llama (SmolLM2), Gemma-3 and
GPT-2 (weights.py says how each block is laid out; reference.py is the step in plain torch).

Several independent sequences (a server's requests, the choices of a multiple-choice question)
share one decoder and one pass over the weights per step:

    decoder.reset(max_length=2048, sequences=8)          # 8 slots, each with its own cache
    first = decoder.start(3, prompt_ids)                 # slot 3 starts a new sequence: (V,)
    logits = decoder.decode([0, 3, 5], [t0, t3, t5])     # one token for each of these slots: (3, V)
    decoder.clear(5)                                     # slot 5 is free again; the others go on

What makes it fast (the readable `Transformer` does none of this, on purpose):
- one C call per step (`_decode.c`): no Python, no tensor allocation per layer or per token;
- fused matrices (qkv, gate_up: weights.py) and a pre-allocated static KV cache;
- RoPE tables computed once for the whole cache;
- in bf16 / int8 / int4, fewer bytes per weight to stream from memory (kernels.py);
- a prompt goes through each layer as one panel of tokens (matrix-matrix products), not as a
  loop of single-token steps.
fp32 computes what the readable model computes (logits agree to ~1e-5, and greedy text equals
transformers'); the other precisions change the weights, so their outputs drift (the benchmark
`llmpg bench generate` reports by how much).

Without the compiled kernels (no compiler) the same steps run in plain torch (reference.py):
slower, same numbers.
"""
from __future__ import annotations

import ctypes
import warnings
from typing import Sequence

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models.fast import kernels
from llm_playground.models.fast.reference import reference_forward
from llm_playground.models.fast.weights import FastWeights, Norm, from_transformer
from llm_playground.models.transformer import rope_tables

ACTIVATION_CODES = {"silu": 0, "gelu_tanh": 1, "gelu": 2}
GEMM_MIN_ROWS = 16
"""A prompt chunk of at least this many tokens takes the C step's tiled matrix-matrix product (prefill);
fewer rows, and every decode step, take the kernels' row-tiled `linear` (one pass over the weights)."""
BATCH_INVARIANT_ROWS = 4
"""`decode` computes at least this many rows: from 4 rows on, the C kernels' 4 × 4 register tiles give
a row the same bits whatever the other rows are, so a sequence decodes identically alone and in any batch."""


# --- the C view of a model (mirrors the structs of the model step in _decode.c) ----------------
class CNorm(ctypes.Structure):
    _fields_ = [("scale", ctypes.c_void_p), ("bias", ctypes.c_void_p)]


class CLayer(ctypes.Structure):
    _fields_ = ([(name, CNorm) for name in ("attn_norm", "q_norm", "k_norm", "post_attn_norm", "mlp_norm",
                                            "post_mlp_norm")]
                + [(name, kernels.CLinear) for name in ("qkv", "o", "gate_up", "down")]
                + [(name, ctypes.c_void_p) for name in ("qkv_bias", "o_bias", "gate_up_bias", "down_bias",
                                                        "rope_cos", "rope_sin")]
                + [("window", ctypes.c_int32), ("pad", ctypes.c_int32),
                   ("k_cache", ctypes.c_void_p), ("v_cache", ctypes.c_void_p)])


class CModel(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in ("n_layer", "n_embd", "n_head", "n_kv_head", "head_dim",
                                                   "intermediate", "vocab", "max_len", "max_tokens", "threads",
                                                   "gated", "activation")] + [
        (name, ctypes.c_float) for name in ("eps", "attn_scale", "embedding_scale")] + [
        ("gemm_min_rows", ctypes.c_int32),
        ("embedding", ctypes.c_void_p), ("positions", ctypes.c_void_p), ("final_norm", CNorm),
        ("head", kernels.CLinear), ("layers", ctypes.POINTER(CLayer)),
    ] + [(name, ctypes.c_void_p) for name in ("x", "h", "qkv", "att", "gu", "act", "xsum")]


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return tensor.data_ptr() if tensor is not None else None


def _c_norm(norm: Norm | None) -> CNorm:
    return CNorm(_pointer(norm.scale), _pointer(norm.bias)) if norm is not None else CNorm(None, None)


def _bind(library: ctypes.CDLL) -> ctypes.CDLL:
    library.forward_rows.argtypes = [ctypes.POINTER(CModel), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    library.forward_rows.restype = None
    return library


class FastDecoder:
    """A decoder over `FastWeights` with its own static KV cache: one or several sequences ("slots").

    Several decoders may share one `FastWeights` (each has its own cache). Within a decoder, each
    slot is an independent sequence at its own position; slots may join (`start`) and leave
    (`clear`) between steps, and one `decode` call steps any subset of them together.
    """

    def __init__(self, weights: FastWeights, *, use_kernels: bool = True, chunk: int = 512,
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
        library = kernels.load_library() if use_kernels else None
        self.library = _bind(library) if library is not None else None
        if use_kernels and self.library is None:
            warnings.warn(f"fast engine: {kernels.library_status()}; running the plain-torch reference of the "
                          "same step instead (same numbers, much slower)", RuntimeWarning, stacklevel=2)
        self.positions = [0]
        """How many positions of each sequence's cache are filled (the position of its next token)."""
        self.max_length = 0
        self.sequences = 0
        self._model: CModel | None = None

    @classmethod
    def from_transformer(cls, model, precision: str = "fp32", **options) -> "FastDecoder":
        """Pack a `Transformer`'s weights in `precision` (the model is left as it is)."""
        return cls(from_transformer(model, precision), **options)

    @property
    def uses_kernels(self) -> bool:
        """True when steps run in the compiled C code, False when in plain torch."""
        return self.library is not None

    @property
    def engine(self) -> str:
        """One line saying what runs the steps."""
        return "compiled C kernels" if self.uses_kernels else f"plain torch ({kernels.library_status()})"

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
        self.rope = ({theta: rope_tables(cfg.head_dim, self.max_length, theta)  # base → (max_len, hs) ×2
                      for theta in {layer.rope_theta for layer in self.weights.layers}}
                     if self.weights.uses_rope else {})
        self._model = self._c_model() if self.library is not None else None

    def _c_model(self) -> CModel:
        """The C view of weights, cache and scratch buffers (the tensors are kept on self)."""
        cfg, w, T = self.config, self.weights, max(self.chunk, self.sequences)  # T: most rows per call
        nh, nkv, hs, C, I = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_embd, cfg.intermediate_size
        self._scratch = {
            "x": torch.empty(T, C), "h": torch.empty(T, C), "qkv": torch.empty(T, (nh + 2 * nkv) * hs),
            "att": torch.empty(T, nh * hs), "gu": torch.empty(T, 2 * I), "act": torch.empty(T, I),
            "xsum": torch.empty(T, max(C, I, nh * hs) // kernels.GROUP),
        }
        self._layers = (CLayer * cfg.n_layer)(*[
            CLayer(attn_norm=_c_norm(layer.attn_norm), q_norm=_c_norm(layer.q_norm), k_norm=_c_norm(layer.k_norm),
                   post_attn_norm=_c_norm(layer.post_attn_norm), mlp_norm=_c_norm(layer.mlp_norm),
                   post_mlp_norm=_c_norm(layer.post_mlp_norm),
                   qkv=kernels.c_linear(layer.qkv), o=kernels.c_linear(layer.o),
                   gate_up=kernels.c_linear(layer.gate_up), down=kernels.c_linear(layer.down),
                   qkv_bias=_pointer(layer.qkv_bias), o_bias=_pointer(layer.o_bias),
                   gate_up_bias=_pointer(layer.gate_up_bias), down_bias=_pointer(layer.down_bias),
                   rope_cos=_pointer(self.rope[layer.rope_theta][0]) if self.rope else None,
                   rope_sin=_pointer(self.rope[layer.rope_theta][1]) if self.rope else None,
                   window=layer.window, k_cache=self.keys[i].data_ptr(), v_cache=self.values[i].data_ptr())
            for i, layer in enumerate(w.layers)])
        return CModel(
            n_layer=cfg.n_layer, n_embd=C, n_head=nh, n_kv_head=nkv, head_dim=hs, intermediate=I,
            vocab=cfg.vocab_size, max_len=self.max_length, max_tokens=T, threads=1, gated=int(w.gated),
            activation=ACTIVATION_CODES[w.activation], eps=cfg.norm_eps,
            attn_scale=cfg.attn_scale if cfg.attn_scale is not None else hs ** -0.5,
            embedding_scale=w.embedding_scale, embedding=w.embedding.data_ptr(), positions=_pointer(w.positions),
            final_norm=_c_norm(w.final_norm), head=kernels.c_linear(w.head),
            layers=ctypes.cast(self._layers, ctypes.POINTER(CLayer)), gemm_min_rows=GEMM_MIN_ROWS,
            **{name: tensor.data_ptr() for name, tensor in self._scratch.items()})

    # --- steps -----------------------------------------------------------------------------
    def _check(self, tokens: torch.Tensor, sequence: int, count: int) -> None:
        if not 0 <= sequence < len(self.positions):
            raise PlaygroundError(f"sequence {sequence} does not exist; reset(…, sequences=N) makes N of them")
        if self.positions[sequence] + count > self.max_length:
            raise PlaygroundError(f"the KV cache holds {self.max_length} tokens; {self.positions[sequence]} are "
                                  f"filled and {count} more do not fit. Call reset() with a larger max_length.")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise PlaygroundError(f"token ids must be in [0, {self.config.vocab_size})")

    def _reference(self, sequence: int, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """The plain-torch step for one sequence: logits (T, V)."""
        return reference_forward(self.weights, self.keys[:, sequence], self.values[:, sequence], self.rope,
                                 tokens, start)

    def _rows(self, tokens: torch.Tensor, slots: list[int], positions: list[int], all_logits: bool, *,
              tiled: bool = True) -> torch.Tensor:
        """One C call: row t is token t of sequence slots[t] at positions[t] → logits (rows, V).
        `tiled=False` keeps every row count on the row-tiled kernels (decode: batch-invariant sums)."""
        out = torch.empty(tokens.shape[0] if all_logits else 1, self.config.vocab_size)
        slot_array = torch.tensor(slots, dtype=torch.int32)
        position_array = torch.tensor(positions, dtype=torch.int32)
        self._model.threads = self.threads or torch.get_num_threads()
        self._model.gemm_min_rows = GEMM_MIN_ROWS if tiled else 2 ** 31 - 1
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
            logits = self._reference(sequence, tokens, start)
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

    # --- several sequences ----------------------------------------------------------------
    def clear(self, sequence: int) -> None:
        """Forget sequence `sequence` (its slot is free for a new one); the other sequences go on."""
        self._check(torch.empty(0), sequence, 0)
        self.positions[sequence] = 0

    def start(self, sequence: int, prompt_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Start a new sequence in slot `sequence` with its prompt (prefill): logits (V,) after the prompt.

        Whatever the slot held is forgotten; the other slots are not touched."""
        self.clear(sequence)
        return self.forward(prompt_ids, sequence=sequence)

    def decode(self, sequences: Sequence[int], token_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """One decode step for several sequences: token i goes to sequence `sequences[i]` at that
        sequence's own next position. Returns logits (len(sequences), V), row i for sequence i.

        The sequences may be at any positions and any subset of the slots (continuous batching:
        requests join with `start` and leave with `clear` between steps); each must appear once.
        The rows share one pass over the weights, and each row's logits equal what the sequence
        alone would get, bit for bit: rows are padded to BATCH_INVARIANT_ROWS, and from that many on
        the kernels' register tiles give a row the same sums whatever the other rows are (the plain-torch
        path computes each sequence on its own), so a request decodes identically alone and in a batch."""
        slots = [int(s) for s in sequences]
        if len(set(slots)) != len(slots):
            raise PlaygroundError(f"decode steps each sequence once; got {slots}")
        if self._model is None:  # plain torch computes each sequence on its own: invariant already
            return self.forward_rows(token_ids, slots)
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        if len(slots) != tokens.shape[0] or not slots:
            raise PlaygroundError(f"decode needs one sequence per token ({tokens.shape[0]}), got {len(slots)}")
        for row, slot in enumerate(slots):
            self._check(tokens[row:row + 1], slot, 1)
        positions = [self.positions[slot] for slot in slots]
        pad = max(0, BATCH_INVARIANT_ROWS - len(slots))  # repeats the last row: the same key/value written twice
        tokens, rows, at = torch.cat([tokens, tokens[-1:].repeat(pad)]), slots + slots[-1:] * pad, positions + positions[-1:] * pad
        step = self._model.max_tokens
        logits = torch.cat([self._rows(tokens[first:first + step], rows[first:first + step], at[first:first + step],
                                       True, tiled=False) for first in range(0, len(rows), step)])[:len(slots)]
        for slot in slots:
            self.positions[slot] += 1
        return logits

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

    def forward_rows(self, token_ids: Sequence[int] | torch.Tensor, sequences: Sequence[int]) -> torch.Tensor:
        """Feed several sequences at once: token t goes to sequence `sequences[t]` at that sequence's
        next position (tokens of one sequence in order). Returns logits (T, V) for every row.

        The rows share passes over the weights: scoring 4 continuations of 10 tokens costs about
        what one 40-token prompt costs, not four. `decode` is the one-token-per-sequence case."""
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1).contiguous()
        slots = [int(s) for s in sequences]
        if len(slots) != tokens.shape[0]:
            raise PlaygroundError(f"forward_rows needs one sequence per token ({tokens.shape[0]}), got {len(slots)}")
        if not slots:
            raise PlaygroundError("forward_rows needs at least one token")
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
                logits[rows] = self._reference(slot, tokens[rows], positions[rows[0]])
            return logits
        step = self._model.max_tokens
        return torch.cat([self._rows(tokens[first:first + step], slots[first:first + step],
                                     positions[first:first + step], True)
                          for first in range(0, len(slots), step)])

    def step_batch(self, token_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """One token for every sequence (after `reset(…, sequences=B)` and a prefill of each):
        logits (B, V); `decode(range(B), token_ids)`."""
        tokens = torch.as_tensor(token_ids, dtype=torch.int64).reshape(-1)
        if tokens.shape[0] != len(self.positions):
            raise PlaygroundError(f"step_batch needs one token per sequence ({len(self.positions)}), "
                                  f"got {tokens.shape[0]}")
        return self.decode(range(len(self.positions)), tokens)

    def decode_rows(self, token_ids: Sequence[int], sequences: Sequence[int]) -> torch.Tensor:
        """One scheduler step for several sequences: token t goes to sequence `sequences[t]` at its next
        position, a sequence's tokens consecutive (one decode token, or a whole prompt to prefill).
        Returns logits (S, V): one row per sequence, after its last token, in order of appearance.

        What a continuous-batching scheduler calls every step, with whichever sequences are live and
        the prompts of those that join: prompts are prefilled as `forward` does (alone), and the
        decode tokens share one batch-invariant `decode` pass over the weights."""
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
        logits = torch.empty(len(groups), self.config.vocab_size)
        for index, (slot, first, count) in enumerate(groups):
            if count > 1:
                logits[index] = self.forward(tokens[first:first + count], sequence=slot)
        single = [(index, slot, first) for index, (slot, first, count) in enumerate(groups) if count == 1]
        if single:
            logits[[index for index, _, _ in single]] = self.decode([slot for _, slot, _ in single],
                                                                    tokens[[first for _, _, first in single]])
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
