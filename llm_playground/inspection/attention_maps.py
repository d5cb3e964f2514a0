"""Attention maps: which earlier tokens each token looks at, per layer and head (bertviz-style).

`zoo_attention_maps(name, prompt, layer=L)` computes them with our readable transformer for decoders
(`native_attention_maps`) and with transformers' model for encoders (MiniLM).
`attention_maps(model, tokenizer, prompt, layer=L)` runs a transformers model once with the
"eager" attention implementation (the fused kernels never materialise the weights) and
`output_attentions=True`, and keeps layer L: weights of shape (heads, T, T), where row i is the
softmax over keys for query token i, so every row sums to 1. A decoder (SmolLM2) is causal: every
entry above the diagonal is exactly 0. An encoder (MiniLM) attends both ways.

`plot_attention` draws one head, or a grid of all heads of the layer, as a heat map with the tokens
on both axes and a colour bar. `AttentionMaps.to_dict()` is the same data for `--json` and the web page.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from llm_playground.checks import png_path
from llm_playground.errors import PlaygroundError


@dataclass
class AttentionMaps:
    """The attention weights of one layer for one prompt."""

    model: str
    """Model name."""
    prompt: str
    """The text that was tokenized."""
    tokens: list[str]
    """One readable label per token (a leading space shown as ␣)."""
    layer: int
    """Which layer (0-based) the weights come from."""
    n_layers: int
    """Layers in the model."""
    weights: torch.Tensor
    """(heads, T, T): weights[h, i, j] = how much query token i attends to key token j in head h."""
    causal: bool
    """True for a decoder (no attention to later tokens)."""

    @property
    def n_heads(self) -> int:
        return self.weights.shape[0]

    def head(self, index: int) -> torch.Tensor:
        """(T, T) weights of one head; a bad index is a PlaygroundError."""
        return self.weights[check_index("head", index, self.n_heads, self.model)]

    def to_dict(self, head: int | None = None, decimals: int = 4) -> dict:
        """JSON-ready: tokens, layer, heads and weights ([heads][T][T], or [T][T] for one head)."""
        data = self.head(head) if head is not None else self.weights
        return {"model": self.model, "prompt": self.prompt, "tokens": self.tokens, "layer": self.layer,
                "n_layers": self.n_layers, "n_heads": self.n_heads, "causal": self.causal, "head": head,
                "weights": torch.round(data.double(), decimals=decimals).tolist()}


def check_index(what: str, index: int, count: int, model: str = "the model") -> int:
    """`index` as a 0-based index into `count` items; negative counts from the end (-1 = last)."""
    if not -count <= index < count:
        raise PlaygroundError(f"{what} {index} is out of range: {model} has {count} {what}s "
                              f"(0–{count - 1}, or -1 for the last)")
    return index % count


def token_labels(tokenizer, ids: list[int]) -> list[str]:
    """A readable label per token: its text with whitespace drawn as everywhere else (· ↵ →).

    Decoding each id on its own shows the piece of text that token stands for, whatever the
    tokenizer's internal marks (Ġ for GPT-2/Llama byte-level BPE, ## for WordPiece).
    """
    from llm_playground.tokenizers.display import visible_whitespace

    return [visible_whitespace(tokenizer.decode([token_id])) or "∅" for token_id in ids]


def _set_eager(model):
    """Switch to eager attention (the only one that returns weights); returns what to restore."""
    previous = getattr(model.config, "_attn_implementation", None)
    if previous != "eager":
        model.set_attn_implementation("eager")
    return previous


@torch.no_grad()
def attention_maps(model, tokenizer, prompt: str, *, layer: int = 0, name: str = "model",
                   causal: bool | None = None, context_length: int | None = None,
                   ids: list[int] | None = None) -> AttentionMaps:
    """Attention weights of `layer` (negative counts from the end) for `prompt`.

    `causal` defaults to "the model is not a BERT-style encoder". Raises PlaygroundError for an
    empty prompt, a prompt longer than `context_length`, or a layer out of range.
    """
    if not prompt:
        raise PlaygroundError("the prompt is empty; give some text to look at")
    if ids is None:
        ids = tokenizer(prompt)["input_ids"]
    encoded = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if context_length is not None and len(ids) > context_length:
        raise PlaygroundError(f"the prompt is {len(ids)} tokens, but {name}'s context window is "
                              f"{context_length} tokens; shorten the prompt")
    n_layers = model.config.num_hidden_layers
    layer = check_index("layer", layer, n_layers, name)
    if causal is None:
        causal = getattr(model.config, "model_type", "") not in ("bert", "roberta", "distilbert")
    previous = _set_eager(model)
    try:
        outputs = model(**encoded, output_attentions=True, use_cache=False) if causal else \
            model(**encoded, output_attentions=True)
    finally:
        if previous and previous != "eager":
            model.set_attn_implementation(previous)  # the model may be shared with other callers
    weights = outputs.attentions[layer][0].float()  # (heads, T, T)
    return AttentionMaps(model=name, prompt=prompt, tokens=token_labels(tokenizer, ids), layer=layer,
                         n_layers=n_layers, weights=weights, causal=causal)


@torch.no_grad()
def native_attention_maps(model, ids: list[int], *, layer: int, name: str, tokens: list[str],
                          prompt: str) -> AttentionMaps:
    """The same maps from our readable transformer: run the blocks before `layer`, then write out
    that layer's softmax(q kᵀ · scale + mask) (`CausalSelfAttention.attention_weights`).

    Equal to transformers' eager `output_attentions` (a test checks it); no second copy of the
    weights is needed to look at attention.
    """
    layer = check_index("layer", layer, model.config.n_layer, name)
    idx = torch.tensor([ids])  # (1, T)
    x = model.embed(idx)       # (1, T, C)
    for i, block in enumerate(model.blocks[:layer + 1]):
        rope = model.rope(0, len(ids), layer=i)
        if i == layer:
            q, k, _ = block.attn.project(block.attn_norm(x), rope)
            weights = block.attn.attention_weights(q, k)[0].float()  # (heads, T, T)
            break
        x = block(x, rope=rope)
    return AttentionMaps(model=name, prompt=prompt, tokens=tokens, layer=layer, n_layers=model.config.n_layer,
                         weights=weights, causal=True)


def zoo_attention_maps(name: str, prompt: str, *, layer: int = 0, head: int | None = None) -> AttentionMaps:
    """Attention maps of a zoo model or folder: our engine for decoders, transformers' model for encoders.

    The prompt is plain text (special-token spellings stay text); layer and head are checked
    against the model's config before any weights load.
    """
    from llm_playground import zoo
    from llm_playground.generation.backends import native_model, native_supported
    from llm_playground.generation.chat import encode_text

    spec = zoo.resolve(name)
    if not prompt or not prompt.strip():
        raise PlaygroundError("the prompt is empty; give some text to look at")
    n_layers, n_heads = _layers_and_heads(spec)
    layer = check_index("layer", layer, n_layers, spec.name)
    if head is not None:
        check_index("head", head, n_heads, spec.name)
    tokenizer = zoo.load_tokenizer(spec)
    ids = encode_text(tokenizer, prompt, add_special_tokens=True)
    if len(ids) > spec.context_length:
        raise PlaygroundError(f"the prompt is {len(ids)} tokens, but {spec.name}'s context window is "
                              f"{spec.context_length} tokens; shorten the prompt")
    if spec.generates and native_supported(spec.architecture):
        return native_attention_maps(native_model(spec), ids, layer=layer, name=spec.name,
                                     tokens=token_labels(tokenizer, ids), prompt=prompt)
    loaded = zoo.load_model(spec)
    return attention_maps(loaded.model, loaded.tokenizer, prompt, layer=layer, name=spec.name,
                          causal=spec.kind != "encoder", context_length=spec.context_length, ids=ids)


def _layers_and_heads(spec) -> tuple[int, int]:
    """(layers, attention heads) from a model's config, without loading weights."""
    from llm_playground import zoo

    if spec.kind == "architecture":
        from transformers import GPT2Config

        config = GPT2Config()
        return config.n_layer, config.n_head
    config = zoo.read_json_file(zoo.model_dir(spec) / "config.json", "model config")
    layers = config.get("num_hidden_layers") or config.get("n_layer")
    heads = config.get("num_attention_heads") or config.get("n_head")
    if not isinstance(layers, int) or not isinstance(heads, int):
        raise PlaygroundError(f"{spec.name}'s config.json does not say how many layers and heads it has")
    return layers, heads


def strongest_links(maps: AttentionMaps, head: int | None = None) -> list[tuple[str, str, float]]:
    """For each query token, the key it attends to most: (query, key, weight); averaged over heads
    when `head` is None."""
    weights = maps.head(head) if head is not None else maps.weights.mean(dim=0)  # (T, T)
    best = weights.max(dim=-1)
    return [(maps.tokens[i], maps.tokens[int(j)], float(w)) for i, (w, j) in enumerate(zip(best.values, best.indices))]


def format_strongest_links(maps: AttentionMaps, head: int | None = None) -> str:
    """`strongest_links` as text lines `query → key (weight)`."""
    which = f"head {head}" if head is not None else f"mean of {maps.n_heads} heads"
    width = max(len(token) for token in maps.tokens)
    lines = [f"{maps.model}, layer {maps.layer}, {which}: where each token looks most"]
    lines += [f"  {query:>{width}} → {key} ({weight:.2f})" for query, key, weight in strongest_links(maps, head)]
    return "\n".join(lines)


def plot_attention(maps: AttentionMaps, path: str | Path, *, head: int | None = None) -> Path:
    """A PNG heat map: one head, or a grid of all heads of the layer; tokens on both axes, colour bar.

    `path` may be a folder (the file is named after the model and layer); returns the file written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    heads = [check_index("head", head, maps.n_heads, maps.model)] if head is not None else list(range(maps.n_heads))
    n = len(maps.tokens)
    columns = 1 if len(heads) == 1 else math.ceil(math.sqrt(len(heads)))
    rows = math.ceil(len(heads) / columns)
    cell = max(2.6, min(7.0, 0.32 * n + 1.5)) if len(heads) > 1 else max(4.5, min(14.0, 0.4 * n + 2.5))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * cell + 1.2, rows * cell + 0.6), squeeze=False)
    font = max(4, min(10, 200 // max(n, 1))) if len(heads) > 1 else max(5, min(11, 360 // max(n, 1)))
    colormap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")  # grey: positions a causal model may not see
    image = None
    for slot, axis in enumerate(axes.flat):
        if slot >= len(heads):
            axis.axis("off")
            continue
        weights = maps.weights[heads[slot]].numpy()
        shown = np.ma.masked_where(np.triu(np.ones_like(weights, dtype=bool), k=1), weights) if maps.causal else weights
        image = axis.imshow(shown, cmap=colormap, vmin=0.0, vmax=1.0, interpolation="nearest")
        if len(heads) > 1:
            axis.set_title(f"head {heads[slot]}", fontsize=font + 2)
        axis.set_xticks(range(n))
        axis.set_yticks(range(n))
        last_row = slot // columns == rows - 1 or slot + columns >= len(heads)
        axis.set_xticklabels(maps.tokens if last_row else [], rotation=90, fontsize=font)
        axis.set_yticklabels(maps.tokens if slot % columns == 0 else [], fontsize=font)
        if last_row:
            axis.set_xlabel("key (attended to)", fontsize=font + 1)
        if slot % columns == 0:
            axis.set_ylabel("query (attending)", fontsize=font + 1)
    kind = "causal decoder" if maps.causal else "bidirectional encoder"
    which = f"head {heads[0]}" if len(heads) == 1 else f"all {maps.n_heads} heads"
    figure.suptitle(f"{maps.model} ({kind}): attention, layer {maps.layer} of {maps.n_layers}, {which}")
    figure.tight_layout(rect=(0, 0, 0.86, 1))
    bar_axis = figure.add_axes((0.88, 0.15, 0.02, 0.7))
    figure.colorbar(image, cax=bar_axis, label="attention weight")
    path = png_path(path, f"attention-{Path(maps.model).name}-layer{maps.layer}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")  # tight: long token labels are not clipped
    plt.close(figure)
    return path
