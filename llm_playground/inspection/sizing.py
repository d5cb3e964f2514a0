"""Size a transformer from its dimensions alone: exact parameter count, memory and FLOPs.

A learner cannot download LLaMA-2 7B, but can still ask how big it is. `ModelDimensions` holds the
numbers a model card gives (layers, width, heads, feed-forward width, vocabulary, context) plus the
few architectural choices that change the count (gated MLP or not, LayerNorm or RMSNorm, biases,
learned positions, tied head). `parameter_breakdown` turns them into an exact count per kind, and
`memory_report` into bytes and FLOPs. Tests prove the formula equal to `sum(p.numel())` of the real
transformers models built from the same config.

Worked example (LLaMA-2 7B: 32 layers, d_model 4096, d_ff 11008, vocab 32000, untied head):
    per layer  attention 4·4096² = 67,108,864   MLP 3·4096·11008 = 135,266,304   norms 2·4096
    total      32 · 202,383,360 + 2 · 32000·4096 (embedding + head) + 4096 (final norm)
             = 6,738,415,616 parameters ≈ 13.5 GB in bf16.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llm_playground.errors import PlaygroundError, unknown_name

MLP_KINDS = ("swiglu", "geglu", "gelu", "relu")
NORM_KINDS = ("rmsnorm", "layernorm")
POSITION_KINDS = ("rope", "learned", "relative")
KINDS = ("embeddings", "attention", "cross_attention", "mlp", "norms", "head", "other")
"""The kinds every parameter is sorted into, here and in `inspection.counts`."""

# Bytes per stored weight. int4 packs two weights per byte; the scales quantization needs come on top.
BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
KV_DTYPES = ("fp32", "bf16")
TRAINING_BYTES_PER_PARAM = 16  # fp32 AdamW: weights 4 + gradients 4 + first moment 4 + second moment 4


@dataclass
class ModelDimensions:
    """The dimensions of a decoder (or encoder) transformer, enough to count every parameter."""

    n_layer: int
    """Number of transformer blocks."""
    d_model: int
    """Width of the residual stream (hidden size)."""
    n_head: int
    """Number of query heads per attention layer."""
    vocab_size: int
    """Number of token ids (rows of the embedding matrix)."""
    d_ff: int | None = None
    """Hidden width of the feed-forward layer; default 4 · d_model."""
    n_kv_head: int | None = None
    """Number of key/value heads (grouped-query attention); default n_head (plain multi-head)."""
    head_dim: int | None = None
    """Width of one head; default d_model // n_head (Gemma 3 uses a wider one)."""
    context_length: int = 2048
    """Longest sequence the model accepts, in tokens (sizes the KV cache and learned positions)."""
    mlp: str = "swiglu"
    """"swiglu" or "geglu" (gated: three d_model × d_ff matrices) or "gelu" / "relu" (plain: two; T5 uses relu)."""
    norm: str = "rmsnorm"
    """"rmsnorm" (a weight per channel) or "layernorm" (weight and bias per channel)."""
    norm_bias: bool = True
    """False for a LayerNorm without bias (weight only); ignored for RMSNorm."""
    position: str = "rope"
    """"rope" (rotary, no parameters), "learned" (a context_length × d_model table) or "relative" (T5: a
    learned bias per (distance bucket, head) added to the attention scores, in the first block of each stack)."""
    tied_embeddings: bool = False
    """True when the output head reuses the token embedding matrix (counted once)."""
    bias: bool = False
    """True when the block's linear layers (attention and MLP) have biases, as in GPT-2 and BERT."""
    qk_norm: bool = False
    """True when queries and keys are normalised per head (Gemma 3): two head_dim norms per layer."""
    post_norms: bool = False
    """True for "sandwich" blocks (Gemma 3): a norm after attention and after the MLP as well."""
    final_norm: bool = True
    """True when a norm follows the last block (decoders); BERT has none."""
    embedding_norm: bool = False
    """True when a norm follows the embeddings (BERT)."""
    token_types: int = 0
    """Rows of a segment (token type) embedding table (BERT: 2), 0 for none."""
    pooler: bool = False
    """True for BERT's pooler (a d_model × d_model dense layer with bias on the first token)."""
    lm_head: bool = True
    """True when the model ends in a vocabulary head (decoders); False for a bare encoder."""
    n_decoder_layer: int = 0
    """Decoder blocks of an encoder-decoder model (T5); 0 for decoder-only and encoder-only models. When
    set, n_layer counts the encoder's blocks, and every decoder block has a cross-attention as well."""
    relative_attention_buckets: int = 32
    """Distance buckets of T5's relative position bias (used when position is "relative")."""
    name: str = "custom"
    """A label for reports."""

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "vocab_size", "context_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise PlaygroundError(f"{name} must be a positive integer (got {value!r})")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.head_dim is None:
            if self.d_model % self.n_head:
                raise PlaygroundError(
                    f"d_model {self.d_model} is not divisible by n_head {self.n_head}; "
                    "pick a head count that divides it or give head_dim explicitly")
            self.head_dim = self.d_model // self.n_head
        for name in ("d_ff", "n_kv_head", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise PlaygroundError(f"{name} must be a positive integer (got {value!r})")
        if self.n_head % self.n_kv_head:
            raise PlaygroundError(
                f"n_head {self.n_head} must be a multiple of n_kv_head {self.n_kv_head} "
                "(each key/value head serves a whole group of query heads)")
        if self.n_decoder_layer < 0:
            raise PlaygroundError(f"n_decoder_layer must be ≥ 0 (got {self.n_decoder_layer})")
        if self.position == "relative" and self.relative_attention_buckets < 1:
            raise PlaygroundError(f"relative_attention_buckets must be ≥ 1 (got {self.relative_attention_buckets})")
        if self.token_types < 0:
            raise PlaygroundError(f"token_types must be ≥ 0 (got {self.token_types})")
        for name, allowed in (("mlp", MLP_KINDS), ("norm", NORM_KINDS), ("position", POSITION_KINDS)):
            if getattr(self, name) not in allowed:
                raise PlaygroundError(f"{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})")

    @property
    def encoder_decoder(self) -> bool:
        """True for an encoder-decoder model (T5): n_layer encoder blocks, n_decoder_layer decoder blocks."""
        return self.n_decoder_layer > 0

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _norm_params(width: int, dims: ModelDimensions) -> int:
    with_bias = dims.norm == "layernorm" and dims.norm_bias
    return width * (2 if with_bias else 1)  # LayerNorm: weight + bias; RMSNorm: weight


def parameter_breakdown(dims: ModelDimensions) -> dict[str, int]:
    """Exact parameter count per kind (keys: `KINDS`); tied embeddings counted once.

    >>> parameter_breakdown(PRESETS["llama2-7b"])["attention"]
    2147483648
    """
    d, hd = dims.d_model, dims.head_dim
    q_width, kv_width = dims.n_head * hd, dims.n_kv_head * hd
    bias = 1 if dims.bias else 0

    attention = d * q_width + 2 * d * kv_width + q_width * d  # W_q, W_k, W_v (d → heads), W_o (heads → d)
    attention += bias * (q_width + 2 * kv_width + d)
    if dims.mlp in ("gelu", "relu"):
        mlp = 2 * d * dims.d_ff + bias * (dims.d_ff + d)  # up, down
    else:
        mlp = 3 * d * dims.d_ff + bias * (2 * dims.d_ff + d)  # gate, up, down
    norms = (4 if dims.post_norms else 2) * _norm_params(d, dims)
    norms += 2 * _norm_params(hd, dims) if dims.qk_norm else 0
    stacks = 2 if dims.encoder_decoder else 1
    relative = stacks * dims.relative_attention_buckets * dims.n_head if dims.position == "relative" else 0

    embeddings = dims.vocab_size * d
    embeddings += dims.context_length * d if dims.position == "learned" else 0
    embeddings += dims.token_types * d
    head = 0
    if dims.lm_head and not dims.tied_embeddings:
        head += dims.vocab_size * d
    if dims.pooler:
        head += d * d + d
    final = stacks * (_norm_params(d, dims) if dims.final_norm else 0)  # T5: one after each stack
    final += (_norm_params(d, dims) if dims.embedding_norm else 0)
    # An encoder-decoder's decoder block: self-attention, cross-attention (queries from the decoder,
    # keys and values from the encoder's output: the same four matrices), MLP, and a norm before each.
    decoder_blocks = dims.n_decoder_layer
    return {
        "embeddings": embeddings,
        "attention": (dims.n_layer + decoder_blocks) * attention + relative,
        "cross_attention": decoder_blocks * attention,
        "mlp": (dims.n_layer + decoder_blocks) * mlp,
        "norms": dims.n_layer * norms + decoder_blocks * (norms + _norm_params(d, dims)) + final,
        "head": head,
        "other": 0,
    }


def parameter_count(dims: ModelDimensions) -> int:
    """Exact total parameter count (tied weights once)."""
    return sum(parameter_breakdown(dims).values())


# ---------------------------------------------------------------------------------------------
# Presets: real models by their published dimensions.
PRESETS: dict[str, ModelDimensions] = {
    "gpt2": ModelDimensions(
        n_layer=12, d_model=768, n_head=12, d_ff=3072, vocab_size=50257, context_length=1024,
        mlp="gelu", norm="layernorm", position="learned", tied_embeddings=True, bias=True, name="gpt2"),
    "gpt2-xl": ModelDimensions(
        n_layer=48, d_model=1600, n_head=25, d_ff=6400, vocab_size=50257, context_length=1024,
        mlp="gelu", norm="layernorm", position="learned", tied_embeddings=True, bias=True, name="gpt2-xl"),
    "smollm2-135m": ModelDimensions(
        n_layer=30, d_model=576, n_head=9, n_kv_head=3, d_ff=1536, vocab_size=49152, context_length=8192,
        tied_embeddings=True, name="smollm2-135m"),
    "gemma3-270m": ModelDimensions(
        n_layer=18, d_model=640, n_head=4, n_kv_head=1, head_dim=256, d_ff=2048, vocab_size=262144,
        context_length=32768, mlp="geglu", tied_embeddings=True, qk_norm=True, post_norms=True,
        name="gemma3-270m"),
    "minilm-l6": ModelDimensions(
        n_layer=6, d_model=384, n_head=12, d_ff=1536, vocab_size=30522, context_length=512, mlp="gelu",
        norm="layernorm", position="learned", bias=True, final_norm=False, embedding_norm=True,
        token_types=2, pooler=True, lm_head=False, name="minilm-l6"),
    "t5-small": ModelDimensions(
        n_layer=6, n_decoder_layer=6, d_model=512, n_head=8, head_dim=64, d_ff=2048, vocab_size=32128,
        context_length=512, mlp="relu", position="relative", tied_embeddings=True, name="t5-small"),
    "t5-base": ModelDimensions(
        n_layer=12, n_decoder_layer=12, d_model=768, n_head=12, head_dim=64, d_ff=3072, vocab_size=32128,
        context_length=512, mlp="relu", position="relative", tied_embeddings=True, name="t5-base"),
    "llama2-7b": ModelDimensions(
        n_layer=32, d_model=4096, n_head=32, d_ff=11008, vocab_size=32000, context_length=4096,
        name="llama2-7b"),
    "llama2-70b": ModelDimensions(
        n_layer=80, d_model=8192, n_head=64, n_kv_head=8, d_ff=28672, vocab_size=32000, context_length=4096,
        name="llama2-70b"),
    "llama3-8b": ModelDimensions(
        n_layer=32, d_model=4096, n_head=32, n_kv_head=8, d_ff=14336, vocab_size=128256, context_length=8192,
        name="llama3-8b"),
}
"""Published dimensions of real models, by name (`llmpg inspect --config NAME`)."""


def preset(name: str, **overrides) -> ModelDimensions:
    """The preset called `name`, with any fields replaced (e.g. a longer context_length)."""
    if name not in PRESETS:
        raise unknown_name("model preset", name, PRESETS)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    base = dataclasses.asdict(PRESETS[name])
    if ("d_model" in overrides or "n_head" in overrides) and "head_dim" not in overrides:
        base["head_dim"] = None  # derived: d_model // n_head again
    if "n_head" in overrides and "n_kv_head" not in overrides:
        base["n_kv_head"] = None  # plain multi-head unless told otherwise
    if "name" not in overrides and overrides:
        base["name"] = f"{name} (modified)"
    return ModelDimensions(**{**base, **overrides})


REQUIRED_DIMENSIONS = ("n_layer", "d_model", "n_head", "vocab_size")


def resolve_dimensions(preset_name: str | None = None, **fields) -> ModelDimensions:
    """Dimensions from a preset name with some fields replaced, or (no preset, or "custom") from the
    fields alone; fields that are None are left out. Missing required fields are named in the error."""
    fields = {key: value for key, value in fields.items() if value is not None}
    if preset_name and preset_name != "custom":
        return preset(preset_name, **fields)
    missing = [name for name in REQUIRED_DIMENSIONS if name not in fields]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise PlaygroundError(f"to size a model from its dimensions give {flags} (or a preset: --config NAME, "
                              f"one of {', '.join(PRESETS)})")
    return ModelDimensions(**fields)


def from_hf_config(config) -> ModelDimensions:
    """The dimensions of a transformers model config (GPT-2, Llama/Mistral/Qwen2, Gemma 3, BERT)."""
    model_type = getattr(config, "model_type", "")
    if model_type == "gemma3":  # the multimodal wrapper; its text part is what we size
        config = config.get_text_config()
        model_type = config.model_type
    get = lambda *names, default=None: next(  # noqa: E731 (first attribute that is set)
        (getattr(config, n) for n in names if getattr(config, n, None) is not None), default)
    common = dict(
        n_layer=get("num_hidden_layers", "n_layer"),
        d_model=get("hidden_size", "n_embd"),
        n_head=get("num_attention_heads", "n_head"),
        vocab_size=get("vocab_size"),
        context_length=get("max_position_embeddings", "n_positions", default=2048),
        tied_embeddings=bool(get("tie_word_embeddings", default=True)),
        name=getattr(config, "name_or_path", "") or model_type,
    )
    if model_type == "gpt2":
        return ModelDimensions(**common, d_ff=get("n_inner", default=4 * common["d_model"]), mlp="gelu",
                               norm="layernorm", position="learned", bias=True)
    if model_type == "bert":
        return ModelDimensions(**{**common, "tied_embeddings": False}, d_ff=get("intermediate_size"),
                               mlp="gelu", norm="layernorm", position="learned", bias=True, final_norm=False,
                               embedding_norm=True, token_types=get("type_vocab_size", default=0),
                               pooler=True, lm_head=False)
    if model_type == "t5":
        if getattr(config, "is_gated_act", False):
            raise PlaygroundError("sizing covers the original T5 (relu MLP); T5 v1.1's gated-gelu MLP is not supported")
        return ModelDimensions(
            n_layer=config.num_layers, n_decoder_layer=config.num_decoder_layers or config.num_layers,
            d_model=config.d_model, n_head=config.num_heads, head_dim=config.d_kv, d_ff=config.d_ff,
            vocab_size=config.vocab_size, context_length=512, mlp="relu", norm="rmsnorm", position="relative",
            relative_attention_buckets=config.relative_attention_num_buckets,
            tied_embeddings=bool(config.tie_word_embeddings), name=common["name"])
    if model_type in ("llama", "mistral", "qwen2", "gemma3_text"):
        if model_type != "gemma3_text" and (get("attention_bias", default=False) or get("mlp_bias", default=False)):
            raise PlaygroundError(f"{model_type} config with attention/MLP biases is not supported by sizing")
        gemma = model_type == "gemma3_text"
        return ModelDimensions(**common, d_ff=get("intermediate_size"),
                               n_kv_head=get("num_key_value_heads", default=common["n_head"]),
                               head_dim=get("head_dim", default=common["d_model"] // common["n_head"]),
                               mlp="geglu" if gemma else "swiglu", qk_norm=gemma, post_norms=gemma)
    raise PlaygroundError(
        f"cannot size a {model_type or type(config).__name__!r} config from its dimensions; "
        "supported: gpt2, bert, t5, llama, mistral, qwen2, gemma3")


def from_transformer_config(config) -> ModelDimensions:
    """The dimensions of our own `llm_playground.models.config.TransformerConfig`."""
    return ModelDimensions(
        n_layer=config.n_layer, d_model=config.n_embd, n_head=config.n_head, n_kv_head=config.n_kv_head,
        head_dim=config.head_dim, d_ff=config.intermediate_size, vocab_size=config.vocab_size,
        context_length=config.block_size, mlp=config.mlp, norm=config.norm, norm_bias=config.bias,
        position=config.positions, tied_embeddings=config.tie_embeddings, bias=config.bias, name=config.name)


# ---------------------------------------------------------------------------------------------
# Memory and FLOPs


@dataclass
class MemoryReport:
    """What a model of `n_params` parameters costs in memory and compute."""

    n_params: int
    """Parameters, tied weights once."""
    weights_bytes: dict[str, float]
    """Bytes to hold the weights, per storage type (fp32, bf16, int8, int4; int4 without scales)."""
    training_bytes: int
    """fp32 AdamW training: weights + gradients + two moment estimates (16 bytes/param), no activations."""
    forward_flops_per_token: int
    """≈ 2 N: one multiply and one add per weight per token."""
    training_flops_per_token: int
    """≈ 6 N: forward (2 N) plus backward (4 N: gradients for activations and for weights)."""
    context_length: int | None = None
    """Context the KV cache and attention FLOPs are sized for (None without dimensions)."""
    kv_cache_bytes_per_token: dict[str, int] = field(default_factory=dict)
    """2 (K and V) × n_layer × n_kv_head × head_dim × bytes, per cache dtype; empty for encoders."""
    kv_cache_bytes_full_context: dict[str, int] = field(default_factory=dict)
    """The KV cache for one sequence of context_length tokens, per cache dtype."""
    attention_flops_per_token: int | None = None
    """Attention scores and weighted sum at full context, 2 · n_layer · context · d_model (Kaplan et al.)."""
    notes: list[str] = field(default_factory=list)
    """Caveats a reader should see next to the numbers."""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def memory_report(n_params: int, dims: ModelDimensions | None = None) -> MemoryReport:
    """Memory for weights, KV cache and training, and FLOPs per token, for `n_params` parameters.

    `dims` (when known) adds the KV cache and the attention FLOPs, which depend on the shape.
    """
    notes = [
        "int4/int8 sizes leave out the quantization scales: e.g. GGUF Q4_0 keeps one fp16 scale per "
        "32 weights (4.5 bits/weight), Q8_0 likewise (8.5 bits/weight).",
        "Training memory counts fp32 weights, gradients and AdamW's two moments (16 bytes/param); "
        "activations come on top and grow with batch size × sequence length.",
        "FLOPs per token use N = all parameters; the embedding lookup costs no multiplies, so 2 N "
        "slightly overstates the forward pass.",
    ]
    report = MemoryReport(
        n_params=n_params,
        weights_bytes={name: n_params * size for name, size in BYTES_PER_PARAM.items()},
        training_bytes=TRAINING_BYTES_PER_PARAM * n_params,
        forward_flops_per_token=2 * n_params,
        training_flops_per_token=6 * n_params,
        notes=notes,
    )
    if dims is None:
        return report
    report.context_length = dims.context_length
    # every attention layer: scores and weighted sum over the context (a decoder block of an
    # encoder-decoder has two: self-attention and cross-attention)
    attention_layers = dims.n_layer + 2 * dims.n_decoder_layer
    report.attention_flops_per_token = 2 * attention_layers * dims.context_length * dims.d_model
    if dims.lm_head:  # a decoder caches keys and values of earlier tokens
        cached_layers = dims.n_decoder_layer if dims.encoder_decoder else dims.n_layer
        per_token_values = 2 * cached_layers * dims.n_kv_head * dims.head_dim  # K and V, every decoder layer
        for dtype in KV_DTYPES:
            per_token = int(per_token_values * BYTES_PER_PARAM[dtype])
            report.kv_cache_bytes_per_token[dtype] = per_token
            report.kv_cache_bytes_full_context[dtype] = per_token * dims.context_length
        if dims.n_kv_head != dims.n_head:
            notes.append(f"Grouped-query attention: {dims.n_kv_head} KV heads for {dims.n_head} query heads "
                         f"shrinks the KV cache {dims.n_head // dims.n_kv_head}×.")
        if dims.encoder_decoder:
            notes.append("Encoder-decoder: the KV cache figures are the decoder's self-attention cache per "
                         "generated token; cross-attention keys and values are computed once from the encoder's "
                         "output and cost the same again per source token.")
        if dims.post_norms:
            notes.append("Gemma 3 uses a sliding window on most layers; their cache stops growing at the "
                         "window, so the full-context figure is an upper bound.")
    else:
        notes.append("An encoder reads the whole input at once and keeps no KV cache.")
    return report


def size_model(dims: ModelDimensions) -> dict:
    """Everything `llmpg inspect --config` shows: dimensions, counts per kind, memory and FLOPs."""
    breakdown = parameter_breakdown(dims)
    total = sum(breakdown.values())
    return {
        "dimensions": dims.to_dict(),
        "total_parameters": total,
        "parameters_by_kind": breakdown,
        "memory": memory_report(total, dims).to_dict(),
    }


# ---------------------------------------------------------------------------------------------
# Human-readable numbers


def human_count(n: float) -> str:
    """`6738415616` → `'6.74B'`."""
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= limit:
            return f"{n / limit:.3g}{suffix}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    """Decimal units, as disk and GPU vendors use them: `13476831232` → `'13.5 GB'`."""
    for limit, suffix in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(n) >= limit:
            return f"{n / limit:.3g} {suffix}"
    return f"{n:g} B"


def human_flops(n: float) -> str:
    """`13476831232` → `'13.5 GFLOP'`."""
    for limit, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.3g} {prefix}FLOP"
    return f"{n:g} FLOP"


def format_table(rows: list[tuple], header: tuple | None = None) -> str:
    """Left-align the first column, right-align the others."""
    all_rows = ([header] if header else []) + [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(str(row[i])) for row in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if header and index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_memory(memory: dict) -> str:
    """The memory/FLOPs part of a report (`MemoryReport.to_dict()`) as text tables."""
    parts = [format_table([(dtype, human_bytes(size)) for dtype, size in memory["weights_bytes"].items()],
                          ("weights", "bytes"))]
    if memory["kv_cache_bytes_per_token"]:
        rows = [(dtype, human_bytes(memory["kv_cache_bytes_per_token"][dtype]),
                 human_bytes(memory["kv_cache_bytes_full_context"][dtype])) for dtype in memory["kv_cache_bytes_per_token"]]
        parts.append(format_table(rows, ("KV cache", "per token", f"at {memory['context_length']:,} tokens")))
    flops = [("forward ≈ 2N", human_flops(memory["forward_flops_per_token"])),
             ("training ≈ 6N", human_flops(memory["training_flops_per_token"]))]
    if memory["attention_flops_per_token"] is not None:
        flops.append((f"attention at {memory['context_length']:,} tokens (2·L·ctx·d, extra)",
                      human_flops(memory["attention_flops_per_token"])))
    parts.append(format_table(flops, ("compute per token", "FLOPs")))
    parts.append(f"training (fp32 AdamW, 16 bytes/param): {human_bytes(memory['training_bytes'])} + activations")
    parts.append("\n".join(f"note: {note}" for note in memory["notes"]))
    return "\n\n".join(parts)


def format_sizing(sizing: dict) -> str:
    """`size_model(...)` as text: dimensions, counts per kind, memory, FLOPs."""
    dims = sizing["dimensions"]
    total = sizing["total_parameters"]
    layers = (f"encoder {dims['n_layer']} + decoder {dims['n_decoder_layer']} layers"
              if dims.get("n_decoder_layer") else f"{dims['n_layer']} layers")
    shape = (f"{dims['name']}: {layers}, d_model {dims['d_model']}, {dims['n_head']} heads "
             f"({dims['n_kv_head']} KV, head_dim {dims['head_dim']}), d_ff {dims['d_ff']} ({dims['mlp']}), "
             f"vocab {dims['vocab_size']:,}, context {dims['context_length']:,}, {dims['norm']}, "
             f"{dims['position']} positions, {'tied' if dims['tied_embeddings'] else 'untied'} embeddings")
    rows = [(kind, f"{count:,}", f"{100 * count / total:.1f}%")
            for kind, count in sizing["parameters_by_kind"].items() if count]
    rows.append(("total", f"{total:,}", f"≈ {human_count(total)}"))
    return "\n\n".join([shape, format_table(rows, ("kind", "parameters", "share")), format_memory(sizing["memory"])])


__all__ = [
    "ModelDimensions", "MemoryReport", "PRESETS", "KINDS", "BYTES_PER_PARAM", "parameter_breakdown",
    "parameter_count", "preset", "resolve_dimensions", "from_hf_config", "from_transformer_config", "memory_report", "size_model", "human_count",
    "human_bytes", "human_flops", "format_table", "format_memory", "format_sizing",
]
