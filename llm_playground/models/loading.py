"""Load Hugging Face weights into our `Transformer`.

`from_hf_state_dict(config, state_dict)` maps tensor names and layouts (Gemma-3 text models map like
Llama, plus self_attn.{q,k}_norm and four norms per layer: input_layernorm → attn_norm,
post_attention_layernorm → post_attn_norm, pre_feedforward_layernorm → mlp_norm,
post_feedforward_layernorm → post_mlp_norm):

| ours                          | Llama (LlamaForCausalLM)                | GPT-2 (GPT2LMHeadModel)                  |
|-------------------------------|-----------------------------------------|------------------------------------------|
| wte                           | model.embed_tokens                      | transformer.wte                          |
| wpe                           | –                                       | transformer.wpe                          |
| blocks.N.attn_norm            | model.layers.N.input_layernorm          | transformer.h.N.ln_1                     |
| blocks.N.attn.{q,k,v}_proj    | model.layers.N.self_attn.{q,k,v}_proj   | transformer.h.N.attn.c_attn, split in 3  |
| blocks.N.attn.o_proj          | model.layers.N.self_attn.o_proj         | transformer.h.N.attn.c_proj              |
| blocks.N.mlp_norm             | model.layers.N.post_attention_layernorm | transformer.h.N.ln_2                     |
| blocks.N.mlp.gate_proj        | model.layers.N.mlp.gate_proj            | –                                        |
| blocks.N.mlp.up_proj          | model.layers.N.mlp.up_proj              | transformer.h.N.mlp.c_fc                 |
| blocks.N.mlp.down_proj        | model.layers.N.mlp.down_proj            | transformer.h.N.mlp.c_proj               |
| norm_f                        | model.norm                              | transformer.ln_f                         |
| lm_head                       | lm_head (or embed_tokens when tied)     | lm_head (or wte when tied)               |

GPT-2 stores its linear layers as `Conv1D`, whose weight is (in, out): we transpose to nn.Linear's
(out, in). Every tensor's shape is checked against the config before anything is built; the
first mismatch raises PlaygroundError naming that tensor.

`load_native(name_or_dir)` reads a zoo model (or any folder with config.json + model.safetensors).
The model is built on the meta device and the loaded tensors are assigned, not copied, so
SmolLM2 (540 MB of fp32) loads in well under 2 s.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from llm_playground.errors import AssetError, PlaygroundError
from llm_playground.models.config import TransformerConfig
from llm_playground.models.transformer import Transformer

# Tensors in HF checkpoints that are not weights (causal-mask buffers, RoPE frequencies).
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")


class _Rule:
    """Our tensor `target` comes from HF tensor `source` (of shape `source_shape`) through `convert`."""

    def __init__(self, target: str, source: str, source_shape: tuple[int, ...],
                 convert: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> None:
        self.target, self.source, self.source_shape, self.convert = target, source, source_shape, convert


def _embedding_name(config: TransformerConfig, names: set[str]) -> str:
    """The token embedding's name in a Llama-style checkpoint; a tied checkpoint may keep only
    `lm_head.weight` for the shared matrix."""
    embed = "model.embed_tokens.weight"
    if config.tie_embeddings and embed not in names and "lm_head.weight" in names:
        return "lm_head.weight"
    return embed


def _attention_rules(ours: str, hf: str, C: int, q_width: int, kv_width: int) -> list["_Rule"]:
    """The pre-attention norm and the four attention projections of one Llama-style layer."""
    return [
        _Rule(ours + "attn_norm.weight", hf + "input_layernorm.weight", (C,)),
        _Rule(ours + "attn.q_proj.weight", hf + "self_attn.q_proj.weight", (q_width, C)),
        _Rule(ours + "attn.k_proj.weight", hf + "self_attn.k_proj.weight", (kv_width, C)),
        _Rule(ours + "attn.v_proj.weight", hf + "self_attn.v_proj.weight", (kv_width, C)),
        _Rule(ours + "attn.o_proj.weight", hf + "self_attn.o_proj.weight", (C, q_width)),
    ]


def _llama_rules(config: TransformerConfig, names: set[str]) -> list[_Rule]:
    C, V, I = config.n_embd, config.vocab_size, config.intermediate_size
    q_width, kv_width = config.n_head * config.head_dim, config.n_kv_head * config.head_dim
    embed = _embedding_name(config, names)
    rules = [_Rule("wte.weight", embed, (V, C))]
    for n in range(config.n_layer):
        hf, ours = f"model.layers.{n}.", f"blocks.{n}."
        rules += [
            *_attention_rules(ours, hf, C, q_width, kv_width),
            _Rule(ours + "mlp_norm.weight", hf + "post_attention_layernorm.weight", (C,)),
            _Rule(ours + "mlp.gate_proj.weight", hf + "mlp.gate_proj.weight", (I, C)),
            _Rule(ours + "mlp.up_proj.weight", hf + "mlp.up_proj.weight", (I, C)),
            _Rule(ours + "mlp.down_proj.weight", hf + "mlp.down_proj.weight", (C, I)),
        ]
    rules.append(_Rule("norm_f.weight", "model.norm.weight", (C,)))
    rules.append(_Rule("lm_head.weight", embed if config.tie_embeddings else "lm_head.weight", (V, C)))
    return rules


def _gemma3_rules(config: TransformerConfig, names: set[str]) -> list[_Rule]:
    C, V, I, hs = config.n_embd, config.vocab_size, config.intermediate_size, config.head_dim
    q_width, kv_width = config.n_head * hs, config.n_kv_head * hs
    embed = _embedding_name(config, names)
    rules = [_Rule("wte.weight", embed, (V, C))]
    for n in range(config.n_layer):
        hf, ours = f"model.layers.{n}.", f"blocks.{n}."
        rules += [
            *_attention_rules(ours, hf, C, q_width, kv_width),
            _Rule(ours + "attn.q_norm.weight", hf + "self_attn.q_norm.weight", (hs,)),
            _Rule(ours + "attn.k_norm.weight", hf + "self_attn.k_norm.weight", (hs,)),
            # Gemma's post_attention_layernorm normalises the attention *output*; Llama's is the pre-MLP norm
            _Rule(ours + "post_attn_norm.weight", hf + "post_attention_layernorm.weight", (C,)),
            _Rule(ours + "mlp_norm.weight", hf + "pre_feedforward_layernorm.weight", (C,)),
            _Rule(ours + "mlp.gate_proj.weight", hf + "mlp.gate_proj.weight", (I, C)),
            _Rule(ours + "mlp.up_proj.weight", hf + "mlp.up_proj.weight", (I, C)),
            _Rule(ours + "mlp.down_proj.weight", hf + "mlp.down_proj.weight", (C, I)),
            _Rule(ours + "post_mlp_norm.weight", hf + "post_feedforward_layernorm.weight", (C,)),
        ]
    rules.append(_Rule("norm_f.weight", "model.norm.weight", (C,)))
    rules.append(_Rule("lm_head.weight", embed if config.tie_embeddings else "lm_head.weight", (V, C)))
    return rules


def _gpt2_rules(config: TransformerConfig, names: set[str]) -> list[_Rule]:
    C, V, I, P = config.n_embd, config.vocab_size, config.intermediate_size, config.block_size
    prefix = "transformer." if "transformer.wte.weight" in names else ""  # GPT2LMHeadModel or GPT2Model
    embed = prefix + "wte.weight"

    def transposed(t: torch.Tensor) -> torch.Tensor:
        return t.t()  # Conv1D (in, out) → Linear (out, in): a view, so both engines share one copy of the weights

    def qkv_part(part: int, is_weight: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        # c_attn packs q | k | v along its output axis: weight (C, 3C), bias (3C,)
        def take(t: torch.Tensor) -> torch.Tensor:
            piece = t[..., part * C:(part + 1) * C]
            return piece.t() if is_weight else piece.contiguous()  # the weight stays a view, as above
        return take

    rules = [_Rule("wte.weight", embed, (V, C)), _Rule("wpe.weight", prefix + "wpe.weight", (P, C))]
    for n in range(config.n_layer):
        hf, ours = f"{prefix}h.{n}.", f"blocks.{n}."
        rules += [
            _Rule(ours + "attn_norm.weight", hf + "ln_1.weight", (C,)),
            _Rule(ours + "attn_norm.bias", hf + "ln_1.bias", (C,)),
        ]
        for part, letter in enumerate("qkv"):
            rules += [
                _Rule(ours + f"attn.{letter}_proj.weight", hf + "attn.c_attn.weight", (C, 3 * C), qkv_part(part, True)),
                _Rule(ours + f"attn.{letter}_proj.bias", hf + "attn.c_attn.bias", (3 * C,), qkv_part(part, False)),
            ]
        rules += [
            _Rule(ours + "attn.o_proj.weight", hf + "attn.c_proj.weight", (C, C), transposed),
            _Rule(ours + "attn.o_proj.bias", hf + "attn.c_proj.bias", (C,)),
            _Rule(ours + "mlp_norm.weight", hf + "ln_2.weight", (C,)),
            _Rule(ours + "mlp_norm.bias", hf + "ln_2.bias", (C,)),
            _Rule(ours + "mlp.up_proj.weight", hf + "mlp.c_fc.weight", (C, I), transposed),
            _Rule(ours + "mlp.up_proj.bias", hf + "mlp.c_fc.bias", (I,)),
            _Rule(ours + "mlp.down_proj.weight", hf + "mlp.c_proj.weight", (I, C), transposed),
            _Rule(ours + "mlp.down_proj.bias", hf + "mlp.c_proj.bias", (C,)),
        ]
    rules += [_Rule("norm_f.weight", prefix + "ln_f.weight", (C,)), _Rule("norm_f.bias", prefix + "ln_f.bias", (C,))]
    rules.append(_Rule("lm_head.weight", embed if config.tie_embeddings else "lm_head.weight", (V, C)))
    return rules


def _rules_for(config: TransformerConfig, names: set[str]) -> list[_Rule]:
    if config.family == "llama":
        return _llama_rules(config, names)
    if config.family == "gpt2":
        return _gpt2_rules(config, names)
    if config.family == "gemma3":
        return _gemma3_rules(config, names)
    raise PlaygroundError(f"no Hugging Face name mapping for a {config.positions}/{config.norm}/{config.mlp} "
                          "config; only the GPT-2, Llama and Gemma-3 families can be loaded")


def from_hf_state_dict(config: TransformerConfig, state_dict: Mapping[str, torch.Tensor], *,
                       dtype: torch.dtype = torch.float32) -> Transformer:
    """Build a `Transformer` for `config` holding the weights of a Hugging Face state dict.

    Accepts LlamaForCausalLM, Gemma3ForCausalLM and GPT2LMHeadModel (or GPT2Model) names. Raises PlaygroundError
    naming the first HF tensor that is missing, has the wrong shape, or is left over (the
    config and the checkpoint disagree: a wrong size, layer count or family).
    Returns the model in eval mode, on the state dict's device, in `dtype`.
    """
    names = set(state_dict)
    rules = _rules_for(config, names)
    weights: dict[str, torch.Tensor] = {}
    for rule in rules:
        if rule.source not in state_dict:
            raise PlaygroundError(f"the state dict has no tensor {rule.source!r}, which {rule.target} needs; "
                                  f"is it a {config.family} checkpoint with {config.n_layer} layers?")
        tensor = state_dict[rule.source]
        if tuple(tensor.shape) != rule.source_shape:
            raise PlaygroundError(f"tensor {rule.source!r} has shape {tuple(tensor.shape)} but the config "
                                  f"expects {rule.source_shape} (for {rule.target}); the config does not "
                                  "match these weights")
        weights[rule.target] = rule.convert(tensor).to(dtype)
    used = {rule.source for rule in rules}
    if config.tie_embeddings:
        used.add("lm_head.weight")  # tied: the head is the embedding, a stored copy is redundant
    leftover = [name for name in state_dict if name not in used and not name.endswith(_IGNORED_SUFFIXES)]
    if leftover:
        raise PlaygroundError(f"the state dict has tensor {leftover[0]!r} that the config has no place for "
                              f"({len(leftover)} such tensors); does n_layer={config.n_layer} match the checkpoint?")

    with torch.device("meta"):  # no memory and no random init: every parameter is assigned below
        model = Transformer(config)
    model.load_state_dict(weights, strict=True, assign=True)
    model.tie_weights()  # assign=True replaced the shared Parameter by two; share it again
    model.init_buffers(device=model.wte.weight.device)
    return model.eval()


def from_hf_model(hf_model: torch.nn.Module, *, dtype: torch.dtype = torch.float32) -> Transformer:
    """Our `Transformer` holding the same weights as a transformers model (GPT-2 or Llama family)."""
    config = TransformerConfig.from_hf(hf_model.config)
    return from_hf_state_dict(config, hf_model.state_dict(), dtype=dtype)


def load_dir(directory: str | Path, *, name: str | None = None, dtype: torch.dtype = torch.float32) -> Transformer:
    """Load a Hugging Face folder holding config.json and model.safetensors (never pickles)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise AssetError(f"{path} is missing; the native engine needs config.json and model.safetensors")
    config = TransformerConfig.from_hf(json.loads(config_path.read_text()))
    config = config.replace(name=name or directory.name)
    return from_hf_state_dict(config, load_file(str(weights_path)), dtype=dtype)


def load_native(name: str | Path, *, dtype: torch.dtype = torch.float32) -> Transformer:
    """Our engine with a model's weights: a zoo name (e.g. "smollm2-135m-instruct") or a local folder.

    A zoo model of kind "architecture" (e.g. "gpt2", random init) takes the weights of the zoo's
    transformers model, so both backends run the same numbers. Returns the model in eval mode.
    Raises PlaygroundError for an unknown name or an architecture the engine does not build.
    """
    from llm_playground import zoo

    spec = zoo.resolve(str(name))  # zoo name, local folder or cached hub id; lists the known names if none
    if spec.kind == "encoder":
        raise PlaygroundError(f"{spec.name} is an encoder ({spec.architecture}); the native engine builds "
                              "decoder-only language models")
    if spec.kind == "architecture":
        model = from_hf_model(zoo.load_hf_model(spec.name), dtype=dtype)
        model.config.name = spec.name
        return model
    return load_dir(zoo.model_dir(str(name)), name=spec.name, dtype=dtype)
