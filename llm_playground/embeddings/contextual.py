"""Contextual embeddings: the same word in different sentences, layer by layer.

The token embedding of "bank" is one row, the same in "river bank" and "bank account". Each layer
mixes in the other tokens (attention), so the word's vector drifts toward its meaning in *this*
sentence: after a few layers the two money "bank"s are closer to each other than either is to the
river "bank". `contextual_embeddings` follows the word through every layer of an encoder (MiniLM,
through transformers) or a decoder (SmolLM2, Gemma, through our engine) and gives the cosine
similarity of every two sentences' "bank" vectors at every depth.

A decoder's token sees only the tokens before it, so in "bank account" the word "bank" has not
seen "account" yet: encoders separate senses from both sides, decoders only from the left.

A word cut into several tokens is the mean of its tokens' vectors; the first occurrence of the
word (whole word, any case) in each sentence is used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.figures import save_figure

DEFAULT_WORD = "bank"
DEFAULT_SENTENCES = (
    "We had a picnic on the river bank.",
    "I opened a savings account at the bank.",
    "The bank raised its interest rates again.",
)


@dataclass
class ContextualResult:
    """One word's vector in every sentence after every layer, and their similarities."""

    model: str
    word: str
    sentences: list[str]
    word_tokens: list[list[str]]
    """The tokens of the word in each sentence."""
    layers: list[str]
    """"embeddings", "layer 1", …: the depth of each vector."""
    vectors: torch.Tensor
    """(S, L, C): sentence s, depth l."""
    similarity: torch.Tensor
    """(L, S, S): cosine of the word's vectors in sentences i and j at depth l."""
    causal: bool
    """True for a decoder (the word sees only the tokens before it)."""
    notes: list[str] = field(default_factory=list)

    def pair(self, i: int, j: int) -> list[float]:
        """cos(word in sentence i, word in sentence j) at every depth (0-based sentence indices)."""
        return [float(value) for value in self.similarity[:, i, j]]

    def to_dict(self, decimals: int = 4) -> dict:
        return {"model": self.model, "word": self.word, "sentences": self.sentences, "word_tokens": self.word_tokens,
                "layers": self.layers, "causal": self.causal, "notes": self.notes,
                "similarity": torch.round(self.similarity.double(), decimals=decimals).tolist()}


def word_span(sentence: str, word: str) -> tuple[int, int]:
    """Character span of the first whole-word occurrence of `word` (any case).

    >>> word_span("The Bank of England", "bank")
    (4, 8)
    """
    match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE)
    if match is None:
        raise PlaygroundError(f"the word {word!r} is not in the sentence {sentence!r}; every sentence must contain it")
    return match.span()


def word_token_positions(tokenizer, sentence: str, word: str) -> tuple[dict, list[int]]:
    """The tokenizer's encoding of `sentence` (as torch tensors) and the positions of the tokens
    that overlap the word."""
    start, end = word_span(sentence, word)
    encoded = tokenizer(sentence, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoded.pop("offset_mapping")[0].tolist()
    positions = [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
    if not positions:
        raise PlaygroundError(f"could not find the tokens of {word!r} in {sentence!r}")
    return encoded, positions


def _check(word: str, sentences: list[str]) -> tuple[str, list[str]]:
    word = (word or "").strip()
    if not word:
        raise PlaygroundError("the word is empty; type the word to follow, e.g. bank")
    sentences = [s for s in (sentences or []) if s and s.strip()]
    if len(sentences) < 2:
        raise PlaygroundError("give at least two sentences that contain the word, to compare its vectors")
    if len(sentences) > 32:
        raise PlaygroundError(f"at most 32 sentences at a time (got {len(sentences)})")
    return word, sentences


@torch.inference_mode()
def _encoder_states(model, encoded: dict) -> list[torch.Tensor]:
    """Hidden states of a transformers encoder: embeddings, then every layer, each (T, C)."""
    return [h[0] for h in model(**encoded, output_hidden_states=True).hidden_states]


@torch.inference_mode()
def _decoder_states(model, ids: torch.Tensor) -> list[torch.Tensor]:
    """The residual stream of our engine: after the embeddings and after every block, each (T, C)."""
    T = ids.shape[1]
    x = model.embed(ids)
    states = [x[0]]
    for i, block in enumerate(model.blocks):
        x = block(x, rope=model.rope(0, T, layer=i))
        states.append(x[0])
    return states


def contextual_embeddings(model: str, word: str = DEFAULT_WORD, sentences: list[str] | None = None) -> ContextualResult:
    """The word's vector after every layer in each sentence, and the cosine of every pair at every depth."""
    from llm_playground import zoo
    from llm_playground.generation.backends import native_model, native_supported

    word, sentences = _check(word, list(sentences) if sentences is not None else list(DEFAULT_SENTENCES))
    spec = zoo.resolve(model)
    tokenizer = zoo.load_tokenizer(model)
    encodings = [word_token_positions(tokenizer, sentence, word) for sentence in sentences]  # checks before loading
    for (encoded, _), sentence in zip(encodings, sentences):
        if encoded["input_ids"].shape[1] > spec.context_length:
            raise PlaygroundError(f"a sentence is {encoded['input_ids'].shape[1]} tokens, longer than {spec.name}'s "
                                  f"{spec.context_length}; shorten it")
    causal = spec.kind != "encoder"
    if causal and not native_supported(spec.architecture):
        raise PlaygroundError(f"contextual embeddings of a decoder run on our engine, which does not build "
                              f"{spec.architecture} ({spec.name})")
    engine = native_model(model) if causal else zoo.load_hf_model(model)
    per_sentence, word_tokens = [], []
    for encoded, positions in encodings:
        states = (_decoder_states(engine, encoded["input_ids"]) if causal
                  else _encoder_states(engine, {k: v for k, v in encoded.items()}))
        per_sentence.append(torch.stack([state[positions].float().mean(dim=0) for state in states]))  # (L, C)
        word_tokens.append([tokenizer.decode([int(encoded["input_ids"][0, p])]) for p in positions])
    vectors = torch.stack(per_sentence)  # (S, L, C)
    unit = torch.nn.functional.normalize(vectors, dim=-1).transpose(0, 1)  # (L, S, C)
    similarity = unit @ unit.transpose(1, 2)  # (L, S, S)
    layers = ["embeddings"] + [f"layer {i}" for i in range(1, vectors.shape[1])]
    notes = []
    if any(len(tokens) > 1 for tokens in word_tokens):
        notes.append(f"{word!r} is several tokens in some sentences: their vectors are averaged")
    if causal:
        notes.append(f"{spec.name} is a decoder: the word sees only the tokens before it, not the ones after")
    if spec.kind == "architecture":
        notes.append(f"{spec.name}: random weights, so the layers mix context without meaning")
    return ContextualResult(model=spec.name, word=word, sentences=sentences, word_tokens=word_tokens, layers=layers,
                            vectors=vectors, similarity=similarity, causal=causal, notes=notes)


def format_contextual(result: ContextualResult) -> str:
    """A table: one row per depth, one column per sentence pair."""
    n = len(result.sentences)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    lines = [f"{result.model}: cosine similarity of {result.word!r} between sentences, layer by layer"]
    lines += [f"  {i + 1}. {sentence}   (tokens: {tokens})"
              for i, (sentence, tokens) in enumerate(zip(result.sentences, result.word_tokens))]
    header = f"{'depth':<12}" + "".join(f"{f'{i + 1} vs {j + 1}':>10}" for i, j in pairs)
    lines += ["", header, "-" * len(header)]
    for depth, label in enumerate(result.layers):
        lines.append(f"{label:<12}" + "".join(f"{float(result.similarity[depth, i, j]):>10.3f}" for i, j in pairs))
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def plot_contextual(result: ContextualResult, path: str | Path) -> Path:
    """A PNG: cosine of every sentence pair against depth, and the similarity matrix at the last layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from llm_playground.embeddings.sentences import short_label

    n = len(result.sentences)
    figure, (lines, heat) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    for i in range(n):
        for j in range(i + 1, n):
            lines.plot(range(len(result.layers)), result.pair(i, j), marker="o",
                       label=f"{i + 1} vs {j + 1}: {short_label(result.sentences[i], 22)} / "
                             f"{short_label(result.sentences[j], 22)}")
    lines.set_xticks(range(len(result.layers)), result.layers, rotation=60 if len(result.layers) > 10 else 0,
                     fontsize=8)
    lines.set_ylabel(f"cosine similarity of {result.word!r}")
    lines.set_title("the same word, sentence against sentence, through the layers")
    lines.grid(alpha=0.3)
    lines.legend(fontsize=7, loc="lower left")
    last = result.similarity[-1].numpy()
    image = heat.imshow(last, cmap="viridis", vmin=min(0.0, float(last.min())), vmax=1.0)
    labels = [f"{i + 1}. {short_label(s, 24)}" for i, s in enumerate(result.sentences)]
    heat.set_xticks(range(n), [str(i + 1) for i in range(n)])
    heat.set_yticks(range(n), labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            heat.text(j, i, f"{last[i, j]:.2f}", ha="center", va="center", fontsize=8,
                      color="black" if last[i, j] > 0.6 else "white")
    heat.set_title(f"after {result.layers[-1]}")
    figure.colorbar(image, ax=heat, fraction=0.046)
    figure.suptitle(f"{result.model}: contextual embeddings of {result.word!r}"
                    + (" (decoder: left context only)" if result.causal else " (encoder: both sides)"))
    figure.tight_layout()
    return save_figure(figure, path)
