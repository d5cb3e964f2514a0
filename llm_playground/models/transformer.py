"""A readable decoder-only transformer that runs GPT-2, Llama (SmolLM2) and Gemma-3 weights exactly.

Read it top to bottom, from the smallest piece to the largest (nanoGPT's order):
`LayerNorm`, `RMSNorm`, rotary embeddings, `CausalSelfAttention`, `MLP`, `Block`, `Transformer`.
Every module is built from one `TransformerConfig`. Shapes in comments use
B = batch, T = new tokens, S = tokens attended to (cache + new), C = n_embd,
nh = n_head, nkv = n_kv_head, hs = head_dim, I = intermediate_size, V = vocab_size.

One forward pass serves training and inference:

    logits, loss = model(idx)                      # (B, T, V), None
    logits, loss = model(idx, targets)             # loss: mean cross-entropy (targets == -100 ignored)
    cache = model.new_cache(batch_size=1, max_length=64)
    logits, _ = model(prompt_ids, cache=cache)     # prefill: fills cache positions [0, T)
    logits, _ = model(next_id[:, None], cache=cache)  # one decode step at position cache.length

To look inside, call the pieces yourself (this is what `llmpg block` does):

    x = model.embed(idx)                           # (B, T, C) the residual stream
    rope = model.rope(start=0, length=T)           # (cos, sin) or None for learned positions
    x = model.blocks[0](x, rope=rope)              # (B, T, C) after one block
    logits = model.final(x)                        # (B, T, V)

Numerics follow transformers' LlamaForCausalLM, GPT2LMHeadModel and Gemma3ForCausalLM (fp32
RMSNorm, RoPE tables computed like LlamaRotaryEmbedding, PyTorch's scaled_dot_product_attention):
full-sequence logits are bit-identical for SmolLM2, and token-by-token decoding with the cache
equals transformers' own cached decoding (both differ from full-sequence logits by < 1e-4 in fp32,
from summation order). tests/models proves it.

Gemma-3's extras (scaled embeddings, (1 + w) RMSNorm, QK-norm, sandwich norms, GeGLU, sliding-window
layers with their own RoPE base) are config switches; GPT-2 and Llama configs leave them off.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_playground.errors import PlaygroundError
from llm_playground.models.config import TransformerConfig
from llm_playground.models.kv_cache import KVCache

Rope = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (T, hs)


ROPE_TABLE_START = 4096
"""Positions the RoPE tables cover at first; `Transformer.rope` extends them when a sequence is longer."""

class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's always has one): subtract the mean, divide by the std."""

    def __init__(self, ndim: int, *, bias: bool, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """Root-mean-square norm (Llama): divide by sqrt(mean(x²) + eps), no mean subtraction, no bias.

    With unit_offset (Gemma) the scale is (1 + weight), so a weight of 0 means "leave as is".
    """

    def __init__(self, ndim: int, *, eps: float, unit_offset: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(ndim) if unit_offset else torch.ones(ndim))
        self.eps = eps
        self.unit_offset = unit_offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()  # the mean of squares in fp32 even for bf16 models, as transformers does
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.unit_offset:  # Gemma scales in fp32, then rounds; Llama rounds, then scales
            return (x * (1.0 + self.weight.float())).to(dtype)
        return self.weight * x.to(dtype)


def make_norm(config: TransformerConfig, ndim: int | None = None) -> nn.Module:
    """The norm the config asks for, over `ndim` features (default: the residual stream's width)."""
    ndim = ndim or config.n_embd
    if config.norm == "rmsnorm":
        return RMSNorm(ndim, eps=config.norm_eps, unit_offset=config.norm_unit_offset)
    return LayerNorm(ndim, bias=config.bias, eps=config.norm_eps)


def rope_tables(head_dim: int, length: int, theta: float, device: torch.device | str = "cpu") -> Rope:
    """cos and sin of every (position, frequency) pair for rotary embeddings, each (length, hs).

    Pair i of a head rotates by angle position * theta ** (-2i / hs). The frequencies are laid
    out twice ([f0..f_{hs/2-1}, f0..f_{hs/2-1}]) because `rotate_half` pairs dimension j with
    j + hs/2 (the Hugging Face / GPT-NeoX layout, not interleaved pairs). Computed exactly like
    transformers' LlamaRotaryEmbedding so logits match to the last bits.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim))
    positions = torch.arange(length, dtype=torch.int64, device=device).float()  # (length,)
    freqs = positions[:, None] * inv_freq[None, :]  # (length, hs/2) angle of each pair
    angles = torch.cat((freqs, freqs), dim=-1)      # (length, hs)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (-x2, x1) over the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every head of x (B, heads, T, hs) by its position's angles (cos, sin: (T, hs))."""
    return x * cos + rotate_half(x) * sin


def causal_mask(T: int, S: int, window: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, S) booleans, True where query i may attend to key j, for T queries that are the last T of S positions.

    Query i sits at position S - T + i and sees keys at positions ≤ its own; with a sliding window,
    only the last `window` of those (itself included).
    >>> causal_mask(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    >>> causal_mask(3, 3, window=2).int().tolist()
    [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    """
    query_positions = torch.arange(S - T, S, device=device)[:, None]  # (T, 1)
    key_positions = torch.arange(S, device=device)[None, :]           # (1, S)
    allowed = key_positions <= query_positions
    if window is not None:
        allowed &= key_positions > query_positions - window
    return allowed


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with grouped-query heads, optional RoPE and a KV cache.

    n_head query heads share n_kv_head key/value heads (n_head // n_kv_head queries per group);
    n_kv_head == n_head is ordinary multi-head attention (GPT-2). A "sliding" layer (Gemma-3)
    sees only the last `sliding_window` positions.
    """

    def __init__(self, config: TransformerConfig, layer_index: int) -> None:
        super().__init__()
        self.layer_index = layer_index  # where this layer's keys/values live in a KVCache
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.q_proj = nn.Linear(config.n_embd, config.n_head * config.head_dim, bias=config.bias)
        self.k_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=config.bias)
        self.v_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=config.bias)
        self.o_proj = nn.Linear(config.n_head * config.head_dim, config.n_embd, bias=config.bias)
        self.q_norm = make_norm(config, config.head_dim) if config.qk_norm else None
        self.k_norm = make_norm(config, config.head_dim) if config.qk_norm else None
        self.scale = config.attn_scale  # None: SDPA's default 1 / sqrt(hs)
        self.sliding_window = config.sliding_window if config.layer_type(layer_index) == "sliding" else None
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def project(self, x: torch.Tensor, rope: Rope | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of x (B, T, C), split into heads, rotated when RoPE is on.

        Returns q (B, nh, T, hs), k (B, nkv, T, hs), v (B, nkv, T, hs).
        """
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)     # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        if self.q_norm is not None:  # Gemma-3: each head's query and key vectors normalised
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q kᵀ / sqrt(hs) + causal mask) v for T queries that are the last T of S keys.

        q (B, nh, T, hs); k, v (B, nkv, S, hs) with S ≥ T. Returns (B, nh, T, hs).
        """
        T, S = q.shape[2], k.shape[2]
        options = dict(dropout_p=self.dropout if self.training else 0.0, scale=self.scale, enable_gqa=True)
        window = self.sliding_window if self.sliding_window is not None and self.sliding_window < S else None
        if window is None and T == S:  # no cache, or a cache that was empty: the plain lower-triangular mask
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, **options)
        if window is None and T == 1:  # one new token sees every cached position: no mask at all
            return F.scaled_dot_product_attention(q, k, v, **options)
        # T new tokens after S - T cached ones (query i sees keys 0 … S - T + i), or a sliding window
        mask = causal_mask(T, S, window, device=q.device)  # (T, S), True = attend
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **options)

    def attention_weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The attention probabilities `attend` uses, written out (for looking at, not for speed).

        q (B, nh, T, hs), k (B, nkv, T, hs) of one sequence without a cache → (B, nh, T, T): row i
        is how much query i looks at each key; masked positions (the future, or outside a sliding
        window) are exactly 0.
        """
        T = q.shape[2]
        k = k.repeat_interleave(self.n_head // self.n_kv_head, dim=1)  # (B, nh, T, hs): each group's kv shared
        scale = self.scale if self.scale is not None else self.head_dim ** -0.5
        scores = (q @ k.transpose(-2, -1)) * scale                       # (B, nh, T, T)
        allowed = causal_mask(T, T, self.sliding_window, device=q.device)  # (T, T), True = attend
        return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)

    def forward(self, x: torch.Tensor, rope: Rope | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """x (B, T, C) → (B, T, C). With a cache, x holds only the new tokens."""
        B, T, _ = x.shape
        q, k, v = self.project(x, rope)                    # (B, nh, T, hs), (B, nkv, T, hs) ×2
        if cache is not None:
            k, v = cache.update(self.layer_index, k, v)    # (B, nkv, S, hs): cached + new
        y = self.attend(q, k, v)                           # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)  # heads side by side again
        return self.resid_dropout(self.o_proj(y))          # (B, T, C)


class MLP(nn.Module):
    """The position-wise feed-forward network.

    "gelu" (GPT-2):    down(gelu(up(x)))
    "swiglu" (Llama):  down(silu(gate(x)) * up(x)), a gated unit: gate decides how much of up passes.
    "geglu" (Gemma):   down(gelu(gate(x)) * up(x)), the same gate with GELU.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.kind = config.mlp
        self.gelu_approximate = config.gelu_approximate
        self.gate_proj = (nn.Linear(config.n_embd, config.intermediate_size, bias=config.bias)
                          if config.mlp in ("swiglu", "geglu") else None)
        self.up_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=config.bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The activation between the two projections: (B, T, C) → (B, T, I)."""
        if self.kind == "swiglu":
            return F.silu(self.gate_proj(x)) * self.up_proj(x)
        if self.kind == "geglu":
            return F.gelu(self.gate_proj(x), approximate=self.gelu_approximate) * self.up_proj(x)
        return F.gelu(self.up_proj(x), approximate=self.gelu_approximate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(self.hidden(x)))  # (B, T, C)


class Block(nn.Module):
    """One pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

    With sandwich_norm (Gemma-3) each branch's output is normalised too before it is added.
    """

    def __init__(self, config: TransformerConfig, layer_index: int) -> None:
        super().__init__()
        self.attn_norm = make_norm(config)
        self.attn = CausalSelfAttention(config, layer_index)
        self.post_attn_norm = make_norm(config) if config.sandwich_norm else None
        self.mlp_norm = make_norm(config)
        self.mlp = MLP(config)
        self.post_mlp_norm = make_norm(config) if config.sandwich_norm else None

    def forward(self, x: torch.Tensor, rope: Rope | None = None, cache: KVCache | None = None) -> torch.Tensor:
        h = self.attn(self.attn_norm(x), rope=rope, cache=cache)  # (B, T, C) tokens talk to each other
        x = x + (self.post_attn_norm(h) if self.post_attn_norm is not None else h)
        h = self.mlp(self.mlp_norm(x))                            # (B, T, C) each token thinks alone
        x = x + (self.post_mlp_norm(h) if self.post_mlp_norm is not None else h)
        return x


class Transformer(nn.Module):
    """Token embedding → n_layer blocks → final norm → output head (logits over the vocabulary)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        # Embedding tables are created empty (`_weight`) and filled by `_init_weights` below: that
        # skips nn.Embedding's own init, which on the meta device (loaders) costs seconds of imports.
        self.wte = nn.Embedding(config.vocab_size, config.n_embd, _weight=torch.empty(config.vocab_size, config.n_embd))
        self.wpe = (nn.Embedding(config.block_size, config.n_embd, _weight=torch.empty(config.block_size, config.n_embd))
                    if config.positions == "learned" else None)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm_f = make_norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # one (V, C) matrix reads tokens in and writes logits out
        self.init_buffers()
        if not self.wte.weight.is_meta:  # on the meta device (loaders) every weight is assigned later
            self.init_weights()

    def init_weights(self) -> None:
        """GPT-2 / nanoGPT initialisation: N(0, 0.02) everywhere, residual projections N(0, 0.02 / sqrt(2 n_layer)).

        Each residual branch adds to the stream, so its output projection is scaled down by the
        number of additions (2 per block) to keep the stream's variance from growing with depth.
        """
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, (LayerNorm, RMSNorm)):
            (nn.init.zeros_ if getattr(module, "unit_offset", False) else nn.init.ones_)(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def init_buffers(self, device: torch.device | str | None = None) -> None:
        """(Re)compute the buffers that are not weights: the RoPE cos/sin tables, (length, hs), for
        the first ROPE_TABLE_START positions (they grow when a longer sequence comes).

        Sliding layers (Gemma-3) get tables of their own, `rope_local_cos/sin`, at rope_local_theta.
        Loaders build the model on the meta device (no memory, no random init) and call this after
        the weights are in place.
        """
        if self.config.positions != "rope":
            return
        device = torch.device(device) if device is not None else self.wte.weight.device
        thetas = {"": self.config.rope_theta}
        if "sliding" in self.config.layer_types:
            thetas["local_"] = self.config.rope_local_theta
        self._rope_thetas = thetas
        self._grow_rope(min(self.config.block_size, ROPE_TABLE_START), device)

    def _grow_rope(self, length: int, device: torch.device | str | None = None) -> None:
        """(Re)compute the RoPE tables for positions 0 … length - 1, (length, hs) each."""
        device = torch.device(device) if device is not None else self.wte.weight.device
        for prefix, theta in self._rope_thetas.items():
            shape = (length, self.config.head_dim)
            if device.type == "meta":  # placeholders only (meta math would import torch's reference ops: seconds)
                cos, sin = torch.empty(shape, device=device), torch.empty(shape, device=device)
            else:
                cos, sin = rope_tables(self.config.head_dim, length, theta, device)
            self.register_buffer(f"rope_{prefix}cos", cos, persistent=False)  # (length, hs)
            self.register_buffer(f"rope_{prefix}sin", sin, persistent=False)  # (length, hs)

    def tie_weights(self) -> None:
        """Make the output head share the token embedding's weight (when the config says so)."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.wte.weight

    # --- the pieces of a forward pass, usable one by one -----------------------------------
    def check_length(self, total_tokens: int) -> None:
        """Raise PlaygroundError when a sequence would not fit in the context (block_size)."""
        if total_tokens > self.config.block_size:
            raise PlaygroundError(f"the sequence has {total_tokens} tokens but {self.config.name}'s context holds "
                                  f"{self.config.block_size}; shorten the prompt or generate fewer tokens")

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token ids (B, T) at positions start … start + T - 1 → the residual stream (B, T, C)."""
        x = self.wte(idx)  # (B, T, C)
        if self.config.embedding_scale:  # Gemma: sqrt(C) keeps embeddings on the scale of the stream
            x = x * torch.tensor(self.config.n_embd ** 0.5, dtype=x.dtype)
        if self.wpe is not None:
            positions = torch.arange(start, start + idx.shape[1], device=idx.device)  # (T,)
            x = x + self.wpe(positions)  # (B, T, C) + (T, C): learned position vectors are added
        return self.drop(x)

    def rope(self, start: int, length: int, layer: int | None = None) -> Rope | None:
        """The RoPE (cos, sin) rows for positions start … start + length - 1, each (length, hs), as
        layer `layer` uses them; None without RoPE. Every layer uses the same tables except the
        sliding layers of Gemma-3; layer=None gives the full-attention tables."""
        if self.config.positions != "rope":
            return None
        if start + length > self.rope_cos.shape[0]:  # tables grow on demand (Gemma's 32k context: 135 MB)
            self._grow_rope(min(self.config.block_size, max(start + length, 2 * self.rope_cos.shape[0])))
        local = layer is not None and self.config.layer_type(layer) == "sliding"
        cos, sin = (self.rope_local_cos, self.rope_local_sin) if local else (self.rope_cos, self.rope_sin)
        dtype = self.wte.weight.dtype  # tables are computed in fp32, then rounded to the model's dtype (as HF does)
        return cos[start:start + length].to(dtype), sin[start:start + length].to(dtype)

    def final(self, x: torch.Tensor) -> torch.Tensor:
        """Residual stream (B, T, C) → final norm → logits (B, T, V)."""
        return self.lm_head(self.norm_f(x))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: KVCache | None = None, last_only: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position of idx (B, T), and the loss when targets (B, T) are given.

        Args:
            idx: token ids (B, T). With a cache, only the tokens not yet in it.
            targets: the ids each position should predict (B, T); -100 marks positions to ignore.
            cache: a KVCache from `new_cache`; its `length` is the position of idx[:, 0], and it
                advances by T.
            last_only: return logits for the last position only, (B, 1, V) (generation needs no
                more, and the output head is the most expensive matrix of small models).
        Returns:
            (logits (B, T, V) or (B, 1, V), loss: a scalar tensor or None)
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        self.check_length(start + T)
        x = self.embed(idx, start)   # (B, T, C)
        rope = self.rope(start, T)   # (T, hs) ×2 or None
        if "sliding" in self.config.layer_types:  # Gemma-3: sliding layers rotate at their own base
            local_rope = self.rope(start, T, layer=self.config.layer_types.index("sliding"))
        for i, block in enumerate(self.blocks):
            layer_rope = local_rope if self.config.layer_type(i) == "sliding" else rope
            x = block(x, rope=layer_rope, cache=cache)  # (B, T, C)
        if cache is not None:
            cache.advance(T)
        if last_only and targets is None:
            x = x[:, -1:]            # (B, 1, C)
        logits = self.final(x)       # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    # --- helpers ---------------------------------------------------------------------------
    def new_cache(self, batch_size: int = 1, max_length: int | None = None,
                  dtype: torch.dtype | None = None) -> KVCache:
        """An empty KVCache for this model: `max_length` tokens (default: the whole context).

        Memory: 2 × n_layer × batch_size × n_kv_head × max_length × head_dim × 4 bytes in fp32
        (SmolLM2, 1 × 1024 tokens: 45 MiB). Ask only for what generation needs.
        """
        max_length = max_length or self.config.block_size
        self.check_length(max_length)
        return KVCache(n_layer=self.config.n_layer, batch_size=batch_size, n_kv_head=self.config.n_kv_head,
                       head_dim=self.config.head_dim, max_length=max_length,
                       dtype=dtype or self.wte.weight.dtype, device=self.wte.weight.device)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied weights counted once); non_embedding leaves out wte and wpe.

        An untied lm_head stays in the non-embedding count (it is a real output matrix).
        """
        total = sum(p.numel() for p in self.parameters())  # parameters() yields a tied tensor once
        if non_embedding:
            total -= self.wte.weight.numel() + (self.wpe.weight.numel() if self.wpe is not None else 0)
        return total
