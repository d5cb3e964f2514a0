"""`TransformerConfig`: one dataclass that describes every decoder-only model our engine builds.

Architectural choices are strings, so a config serializes to JSON (checkpoints store it next to
the weights). Two families are covered by the same fields:

| field       | GPT-2 family       | Llama family (SmolLM2)      | Gemma-3 text (optional extras)     |
|-------------|--------------------|-----------------------------|------------------------------------|
| positions   | "learned"          | "rope"                      | "rope", two bases (local / global) |
| norm        | "layernorm"        | "rmsnorm"                   | "rmsnorm" with (1 + w), QK-norm,   |
|             |                    |                             | sandwich norms                     |
| mlp         | "gelu"             | "swiglu"                    | "geglu"                            |
| bias        | True               | False                       | False                              |
| n_kv_head   | = n_head           | < n_head (grouped-query)    | < n_head                           |
| tie         | True               | True for SmolLM2            | True                               |
| attention   | causal             | causal                      | 5 sliding-window layers : 1 full   |

`TransformerConfig.from_hf(hf_config)` reads a Hugging Face `GPT2Config`, `LlamaConfig` or
`Gemma3TextConfig` (or their `config.json` as a dict); `preset(name)` returns a named config
(`list_presets()` shows them).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from llm_playground.errors import PlaygroundError, unknown_name

POSITIONS = ("learned", "rope")
NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu", "geglu")
LAYER_TYPES = ("full", "sliding")
GELU_APPROXIMATIONS = ("tanh", "none")


@dataclass
class TransformerConfig:
    """Every number and choice that shapes a decoder-only transformer (see the module docstring)."""

    name: str = "custom"
    """A label for people (a preset name or the model it was read from); no effect on the model."""

    # --- sizes -----------------------------------------------------------------------------
    vocab_size: int = 50257
    """Rows of the token embedding and of the output head."""
    block_size: int = 1024
    """Context length: the most tokens a sequence (prompt + generated) may hold."""
    n_layer: int = 12
    """Number of transformer blocks."""
    n_head: int = 12
    """Query heads per attention layer."""
    n_kv_head: int | None = None
    """Key/value heads (grouped-query attention); must divide n_head. None means n_head (plain MHA)."""
    n_embd: int = 768
    """Width of the residual stream (hidden size)."""
    head_dim: int | None = None
    """Width of one attention head. None means n_embd // n_head."""
    intermediate_size: int | None = None
    """Hidden width of the MLP. None means 4 * n_embd."""

    # --- architecture choices --------------------------------------------------------------
    positions: str = "learned"
    """"learned": an embedding table of block_size positions (GPT-2); "rope": rotary embeddings (Llama)."""
    norm: str = "layernorm"
    """"layernorm" (mean and variance, GPT-2) or "rmsnorm" (root-mean-square only, Llama)."""
    mlp: str = "gelu"
    """"gelu": up → GELU → down (GPT-2); "swiglu": down(silu(gate(x)) * up(x)) (Llama);
    "geglu": down(gelu(gate(x)) * up(x)) (Gemma)."""
    gelu_approximate: str = "tanh"
    """GELU flavour for mlp="gelu"/"geglu": "tanh" (GPT-2's gelu_new) or "none" (the exact erf form)."""
    bias: bool = True
    """Biases in the linear layers and the LayerNorms (GPT-2: yes; Llama: no)."""
    tie_embeddings: bool = True
    """The output head shares its weight with the token embedding."""
    norm_eps: float = 1e-5
    """Epsilon added to the variance inside every norm."""
    rope_theta: float = 10000.0
    """RoPE base: frequency of pair i is rope_theta ** (-2i / head_dim). Used when positions="rope"."""

    # --- Gemma-3 extras (all off for the GPT-2 and Llama families) ---------------------------
    embedding_scale: bool = False
    """Multiply the token embeddings by sqrt(n_embd) (Gemma)."""
    norm_unit_offset: bool = False
    """RMSNorm scales by (1 + weight) rather than weight: stored weights are centred on 0 (Gemma)."""
    qk_norm: bool = False
    """RMSNorm over each head's queries and keys (head_dim wide) before RoPE (Gemma-3)."""
    sandwich_norm: bool = False
    """Also normalise the outputs of attention and of the MLP before adding them to the stream (Gemma-3)."""
    attn_scale: float | None = None
    """Factor applied to q·k before the softmax; None means 1 / sqrt(head_dim)."""
    sliding_window: int | None = None
    """Sliding layers see only the last `sliding_window` positions (themselves included)."""
    layer_types: list[str] = dataclasses.field(default_factory=list)
    """"full" or "sliding" per layer; empty means every layer is "full"."""
    rope_local_theta: float = 10000.0
    """RoPE base of the sliding layers (full layers use rope_theta)."""

    # --- training --------------------------------------------------------------------------
    dropout: float = 0.0
    """Dropout on embeddings, attention weights and residual branches while training (0 = off)."""

    def __post_init__(self) -> None:
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.head_dim is None and self.n_head > 0:
            self.head_dim = self.n_embd // self.n_head
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.n_embd
        self.validate()

    def validate(self) -> None:
        """Raise PlaygroundError naming the first field whose value cannot build a model."""
        for field_name in ("vocab_size", "block_size", "n_layer", "n_head", "n_kv_head", "n_embd",
                           "head_dim", "intermediate_size"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PlaygroundError(f"{field_name} must be a positive integer (got {value!r})")
        choices = {"positions": POSITIONS, "norm": NORMS, "mlp": MLPS, "gelu_approximate": GELU_APPROXIMATIONS}
        for field_name, allowed in choices.items():
            if getattr(self, field_name) not in allowed:
                raise PlaygroundError(f"{field_name} must be one of {', '.join(allowed)} "
                                      f"(got {getattr(self, field_name)!r})")
        if self.n_head % self.n_kv_head:
            raise PlaygroundError(f"n_kv_head={self.n_kv_head} must divide n_head={self.n_head} "
                                  "(each key/value head serves a whole group of query heads)")
        if self.positions == "rope" and self.head_dim % 2:
            raise PlaygroundError(f"RoPE rotates pairs of dimensions: head_dim must be even (got {self.head_dim})")
        if self.layer_types:
            if len(self.layer_types) != self.n_layer or any(t not in LAYER_TYPES for t in self.layer_types):
                raise PlaygroundError(f"layer_types must list {self.n_layer} entries, each one of "
                                      f"{', '.join(LAYER_TYPES)} (got {self.layer_types!r})")
            if "sliding" in self.layer_types and not self.sliding_window:
                raise PlaygroundError("sliding layers need sliding_window (a number of positions ≥ 1)")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise PlaygroundError(f"sliding_window must be ≥ 1 or None (got {self.sliding_window})")
        if self.attn_scale is not None and not self.attn_scale > 0:
            raise PlaygroundError(f"attn_scale must be > 0 or None (got {self.attn_scale})")
        if self.norm != "rmsnorm" and (self.norm_unit_offset or self.qk_norm):
            raise PlaygroundError("norm_unit_offset and qk_norm need norm='rmsnorm'")
        if not self.norm_eps > 0:
            raise PlaygroundError(f"norm_eps must be > 0 (got {self.norm_eps})")
        if not self.rope_theta > 0:
            raise PlaygroundError(f"rope_theta must be > 0 (got {self.rope_theta})")
        if not 0 <= self.dropout < 1:
            raise PlaygroundError(f"dropout must be in [0, 1) (got {self.dropout})")

    # --- derived ---------------------------------------------------------------------------
    @property
    def family(self) -> str:
        """"gpt2", "llama" or "gemma3" when the choices are exactly one family's (weights can be
        loaded from that family's Hugging Face checkpoints), else "mixed"."""
        extras = (self.embedding_scale, self.norm_unit_offset, self.qk_norm, self.sandwich_norm)
        if (self.positions, self.norm, self.mlp) == ("rope", "rmsnorm", "swiglu") and not any(extras):
            return "llama"
        if (self.positions, self.norm, self.mlp) == ("learned", "layernorm", "gelu") and not any(extras):
            return "gpt2"
        if (self.positions, self.norm, self.mlp) == ("rope", "rmsnorm", "geglu") and all(extras):
            return "gemma3"
        return "mixed"

    def layer_type(self, layer: int) -> str:
        """"full" or "sliding" for layer `layer`."""
        return self.layer_types[layer] if self.layer_types else "full"

    # --- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (the form checkpoints store)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TransformerConfig":
        """The inverse of `to_dict`; an unknown key is an error that lists the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise unknown_name("TransformerConfig field", key, known)
        return cls(**values)

    def replace(self, **changes: Any) -> "TransformerConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_hf(cls, hf_config: Any) -> "TransformerConfig":
        """Read a Hugging Face config (`GPT2Config`, `LlamaConfig`, `Gemma3TextConfig`, or their config.json dict).

        Raises PlaygroundError for an architecture or a RoPE scaling we do not implement.
        """
        values = hf_config.to_dict() if hasattr(hf_config, "to_dict") else dict(hf_config)
        model_type = values.get("model_type")
        name = values.get("_name_or_path") or model_type or "hf"
        if model_type == "gpt2":
            activation = values.get("activation_function", "gelu_new")
            approximate = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none"}.get(activation)
            if approximate is None:
                raise PlaygroundError(f"GPT-2 activation {activation!r} is not supported; "
                                      "use gelu_new, gelu_pytorch_tanh or gelu")
            if values.get("scale_attn_by_inverse_layer_idx") or values.get("reorder_and_upcast_attn"):
                raise PlaygroundError("GPT-2 configs with scale_attn_by_inverse_layer_idx or "
                                      "reorder_and_upcast_attn are not supported")
            if values.get("scale_attn_weights") is False:
                raise PlaygroundError("GPT-2 configs with scale_attn_weights=False are not supported")
            n_embd = values["n_embd"]
            return cls(
                name=str(name), vocab_size=values["vocab_size"], block_size=values["n_positions"],
                n_layer=values["n_layer"], n_head=values["n_head"], n_embd=n_embd,
                intermediate_size=values.get("n_inner") or 4 * n_embd,
                positions="learned", norm="layernorm", mlp="gelu", gelu_approximate=approximate,
                bias=True, tie_embeddings=values.get("tie_word_embeddings", True),
                norm_eps=values.get("layer_norm_epsilon", 1e-5),
                dropout=0.0,
            )
        if model_type == "llama":
            rope = values.get("rope_parameters") or values.get("rope_scaling") or {}
            rope_type = rope.get("rope_type", rope.get("type", "default"))
            if rope_type != "default":
                raise PlaygroundError(f"RoPE scaling {rope_type!r} is not supported by the native engine; "
                                      "use --backend hf")
            rope_theta = rope.get("rope_theta", values.get("rope_theta", 10000.0))
            if values.get("attention_bias") or values.get("mlp_bias"):
                raise PlaygroundError("Llama configs with attention_bias or mlp_bias are not supported")
            if values.get("hidden_act", "silu") != "silu":
                raise PlaygroundError(f"Llama activation {values.get('hidden_act')!r} is not supported; only silu")
            n_head = values["num_attention_heads"]
            return cls(
                name=str(name), vocab_size=values["vocab_size"], block_size=values["max_position_embeddings"],
                n_layer=values["num_hidden_layers"], n_head=n_head,
                n_kv_head=values.get("num_key_value_heads") or n_head,
                n_embd=values["hidden_size"],
                head_dim=values.get("head_dim") or values["hidden_size"] // n_head,
                intermediate_size=values["intermediate_size"],
                positions="rope", norm="rmsnorm", mlp="swiglu", bias=False,
                tie_embeddings=bool(values.get("tie_word_embeddings", False)),
                norm_eps=values.get("rms_norm_eps", 1e-6), rope_theta=float(rope_theta),
                dropout=0.0,
            )
        if model_type == "gemma3_text":
            return cls._from_gemma3(values, str(name))
        raise PlaygroundError(f"the native engine builds GPT-2, Llama and Gemma-3 text models, not {model_type!r}; "
                              "use --backend hf for this model")

    @classmethod
    def _from_gemma3(cls, values: dict[str, Any], name: str) -> "TransformerConfig":
        rope = values.get("rope_parameters") or {}
        full, local = rope.get("full_attention") or {}, rope.get("sliding_attention") or {}
        for part in (full, local):
            if part.get("rope_type", "default") != "default":
                raise PlaygroundError(f"RoPE scaling {part.get('rope_type')!r} is not supported by the native "
                                      "engine; use --backend hf")
        for field_name in ("attn_logit_softcapping", "final_logit_softcapping"):
            if values.get(field_name) is not None:
                raise PlaygroundError(f"Gemma configs with {field_name} are not supported; use --backend hf")
        if values.get("use_bidirectional_attention") or values.get("attention_bias"):
            raise PlaygroundError("Gemma configs with bidirectional attention or attention biases are not supported")
        activation = values.get("hidden_activation", "gelu_pytorch_tanh")
        approximate = {"gelu_pytorch_tanh": "tanh", "gelu_new": "tanh", "gelu": "none"}.get(activation)
        if approximate is None:
            raise PlaygroundError(f"Gemma activation {activation!r} is not supported")
        layer_types = [{"full_attention": "full", "sliding_attention": "sliding"}[t]
                       for t in values.get("layer_types") or []]
        n_head = values["num_attention_heads"]
        return cls(
            name=name, vocab_size=values["vocab_size"], block_size=values["max_position_embeddings"],
            n_layer=values["num_hidden_layers"], n_head=n_head, n_kv_head=values.get("num_key_value_heads") or n_head,
            n_embd=values["hidden_size"], head_dim=values.get("head_dim") or values["hidden_size"] // n_head,
            intermediate_size=values["intermediate_size"], positions="rope", norm="rmsnorm", mlp="geglu",
            gelu_approximate=approximate, bias=False, tie_embeddings=bool(values.get("tie_word_embeddings", True)),
            norm_eps=values.get("rms_norm_eps", 1e-6),
            rope_theta=float(full.get("rope_theta", values.get("rope_theta", 1_000_000.0))),
            rope_local_theta=float(local.get("rope_theta", values.get("rope_local_base_freq", 10_000.0))),
            embedding_scale=True, norm_unit_offset=True, qk_norm=True, sandwich_norm=True,
            attn_scale=float(values.get("query_pre_attn_scalar", 256)) ** -0.5,
            sliding_window=values.get("sliding_window"), layer_types=layer_types, dropout=0.0,
        )


def _gpt2(name: str, n_layer: int, n_head: int, n_embd: int) -> TransformerConfig:
    return TransformerConfig(name=name, vocab_size=50257, block_size=1024, n_layer=n_layer, n_head=n_head,
                             n_embd=n_embd)


PRESETS: dict[str, TransformerConfig] = {
    # OpenAI's GPT-2 sizes (architecture only: no weights ship offline).
    "gpt2": _gpt2("gpt2", 12, 12, 768),                 # 124M
    "gpt2-medium": _gpt2("gpt2-medium", 24, 16, 1024),  # 350M
    "gpt2-large": _gpt2("gpt2-large", 36, 20, 1280),    # 774M
    "gpt2-xl": _gpt2("gpt2-xl", 48, 25, 1600),          # 1558M
    # SmolLM2-135M's shape (weights come from the zoo via loading.load_native).
    "smollm2-135m": TransformerConfig(
        name="smollm2-135m", vocab_size=49152, block_size=8192, n_layer=30, n_head=9, n_kv_head=3, n_embd=576,
        intermediate_size=1536, positions="rope", norm="rmsnorm", mlp="swiglu", bias=False,
        tie_embeddings=True, norm_eps=1e-5, rope_theta=100000.0),
    # Small models that train on a laptop CPU in minutes (character-level or small BPE vocabularies).
    "cpu-tiny": TransformerConfig(
        name="cpu-tiny", vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
    "cpu-small": TransformerConfig(
        name="cpu-small", vocab_size=50304, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.1),
    "llama-tiny": TransformerConfig(
        name="llama-tiny", vocab_size=65, block_size=128, n_layer=4, n_head=4, n_kv_head=2, n_embd=128,
        intermediate_size=352, positions="rope", norm="rmsnorm", mlp="swiglu", bias=False,
        tie_embeddings=True, norm_eps=1e-5),
}


def list_presets() -> list[str]:
    """Names `preset()` accepts."""
    return list(PRESETS)


def preset(name: str, **changes: Any) -> TransformerConfig:
    """A copy of the named preset, optionally with fields changed (e.g. `preset("cpu-tiny", vocab_size=96)`)."""
    if name not in PRESETS:
        raise unknown_name("model preset", name, PRESETS)
    return PRESETS[name].replace(**changes)
