"""The three transformer families side by side, and the encoder-decoder (T5) built with random weights.

- encoder-only (BERT, here all-MiniLM-L6-v2): every token sees every other token (bidirectional
  attention); the output is one vector per token, pooled into a sentence embedding. Used for
  classification, retrieval, similarity (`llmpg pipeline feature-extraction`).
- decoder-only (GPT-2, Llama/SmolLM2, Gemma): each token sees only the tokens before it (causal);
  the output is a next-token distribution. Used for generation, and for every task as text.
- encoder-decoder (T5, BART): an encoder reads the source bidirectionally; a causal decoder writes
  the target, and each decoder block has a cross-attention whose queries come from the decoder and
  whose keys and values come from the encoder's output. Used for summarization and translation.

T5's weights (and its SentencePiece vocabulary) cannot be installed offline (ASSETS.md), so the
T5 here is the real architecture, built by transformers' `T5ForConditionalGeneration` from the
published sizes, with random weights (seed 0): exact parameter counts, memory and a forward walk,
no meaningful output.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.inspection.sizing import PRESETS, ModelDimensions, parameter_count

ENCODER_DECODER_MODELS = ("t5-small", "t5-base")
"""Encoder-decoder architectures we build with random weights (their sizes are sizing.PRESETS)."""
RANDOM_SEED = 0


def t5_config(name: str):
    """transformers' `T5Config` with the published sizes of `name` (t5-small: 6 + 6 layers, d_model 512,
    8 heads of 64, d_ff 2048, relu MLP, 32 relative-position buckets, vocabulary 32,128, tied head)."""
    from transformers import T5Config

    if name not in ENCODER_DECODER_MODELS:
        raise unknown_name("encoder-decoder model", name, ENCODER_DECODER_MODELS)
    dims = PRESETS[name]
    return T5Config(vocab_size=dims.vocab_size, d_model=dims.d_model, d_kv=dims.head_dim, d_ff=dims.d_ff,
                    num_layers=dims.n_layer, num_decoder_layers=dims.n_decoder_layer, num_heads=dims.n_head,
                    relative_attention_num_buckets=dims.relative_attention_buckets, feed_forward_proj="relu",
                    tie_word_embeddings=dims.tied_embeddings)


def build_t5(name: str, *, meta: bool = False):
    """`T5ForConditionalGeneration(t5_config(name))`: on the meta device (shapes only, no memory) or
    with random weights drawn from seed 0 (eval mode: no dropout)."""
    import torch
    from transformers import T5ForConditionalGeneration

    config = t5_config(name)
    if meta:
        with torch.device("meta"):
            return T5ForConditionalGeneration(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = T5ForConditionalGeneration(config)
    model.eval()
    model.requires_grad_(False)
    return model


def random_t5(name: str):
    """The random-weight T5 of `name`, held once by the model store (t5-small 242 MB, t5-base 892 MB in fp32)."""
    from llm_playground import store

    if name not in ENCODER_DECODER_MODELS:
        raise unknown_name("encoder-decoder model", name, ENCODER_DECODER_MODELS)
    return store.models.get(name, "transformers", "fp32-random", lambda: build_t5(name))


def transformers_parameter_count(name: str) -> int:
    """`sum(p.numel())` of transformers' T5ForConditionalGeneration for `name`, built on the meta device
    (the reference our formula is checked against; the tied head is one tensor, counted once)."""
    return sum(p.numel() for p in build_t5(name, meta=True).parameters())


def inspect_encoder_decoder(name: str) -> dict:
    """`inspection.counts.inspect_model` for a random-weight T5 (tree, counts per kind, memory), with a
    note that its weights are random."""
    from llm_playground.inspection.counts import inspect_model

    report = inspect_model(random_t5(name), name, sample_tokens=0)  # a T5 forward needs decoder ids too
    report["note"] = (f"{name}: the T5 architecture built by transformers with random weights (seed {RANDOM_SEED}); "
                      "T5's trained weights and tokenizer are not installable offline")
    return report


@dataclass
class FamilyRow:
    """One architecture family, as the side-by-side table shows it."""

    family: str
    """encoder-only, decoder-only or encoder-decoder."""
    example: str
    """The model of ours that stands for it."""
    weights: str
    """"pretrained" or "random (architecture only)"."""
    layers: str
    """Blocks, e.g. "6" or "6 enc + 6 dec"."""
    d_model: int
    parameters: int
    """Exact count from the dimensions (equal to the library model's, see tests)."""
    attention: str
    """Which tokens a token sees."""
    positions: str
    output: str
    """What comes out of the last layer."""
    tasks: str
    """What the family is used for (pipeline task names)."""


FAMILY_EXAMPLES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("encoder-only", "minilm-l6", "pretrained",
     "bidirectional: every token sees every token", "one vector per token (pooled: a sentence embedding)",
     "feature-extraction, text-classification, zero-shot-classification, retrieval"),
    ("decoder-only", "smollm2-135m", "pretrained",
     "causal: each token sees itself and earlier tokens", "a next-token distribution at every position",
     "text-generation, and any task phrased as text (few-shot, summarization)"),
    ("decoder-only", "gemma3-270m", "pretrained",
     "causal, 5 of 6 layers a 512-token sliding window", "a next-token distribution at every position",
     "text-generation"),
    ("encoder-decoder", "t5-small", "random (architecture only)",
     "encoder bidirectional; decoder causal + cross-attention to the encoder's output",
     "a next-token distribution for the target, conditioned on the source",
     "summarization, translation (text2text-generation)"),
)


def _positions(dims: ModelDimensions) -> str:
    return {"rope": "rotary (RoPE), no parameters", "learned": f"learned table, {dims.context_length} rows",
            "relative": f"relative bias, {dims.relative_attention_buckets} distance buckets per head"}[dims.position]


def family_table() -> list[FamilyRow]:
    """The three families side by side: MiniLM, SmolLM2 / Gemma-3, T5-small; counts from `sizing.PRESETS`."""
    rows = []
    for family, example, weights, attention, output, tasks in FAMILY_EXAMPLES:
        dims = PRESETS[example]
        layers = (f"{dims.n_layer} enc + {dims.n_decoder_layer} dec" if dims.encoder_decoder else str(dims.n_layer))
        rows.append(FamilyRow(family=family, example=example, weights=weights, layers=layers, d_model=dims.d_model,
                              parameters=parameter_count(dims), attention=attention, positions=_positions(dims),
                              output=output, tasks=tasks))
    return rows


def family_table_dicts() -> list[dict]:
    """`family_table()` as JSON-ready dicts."""
    return [dataclasses.asdict(row) for row in family_table()]


def check_walkable(name: str) -> None:
    """Raise a clear error for a name that is neither a zoo model nor an encoder-decoder we build."""
    from llm_playground import zoo

    if name in ENCODER_DECODER_MODELS:
        return
    try:
        zoo.resolve(name)
    except PlaygroundError as error:
        raise PlaygroundError(f"{error}; encoder-decoder architectures (random weights): "
                              f"{', '.join(ENCODER_DECODER_MODELS)}") from None


def reference_check(preset_name: str | None, total: int) -> str | None:
    """For an encoder-decoder preset sized from its dimensions: a line that compares `total` with
    transformers' own model of the same config (built on the meta device); None for other presets."""
    if preset_name not in ENCODER_DECODER_MODELS:
        return None
    reference = transformers_parameter_count(preset_name)
    verdict = "equal" if reference == total else f"DIFFERENT by {total - reference:+,}"
    return (f"check: transformers' T5ForConditionalGeneration(T5Config(<{preset_name} sizes>)) has "
            f"{reference:,} parameters ({verdict}); T5's trained weights are not installable offline")
