"""Perplexity of a text with a sliding window and a stride (Hugging Face's perplexity guide), on any engine.

The text is tokenized once (the tokenizer's default: Gemma puts <bos> in front, SmolLM2 adds
nothing) and cut to `max_tokens`. Windows of `window` tokens start every `stride` tokens. In each
window only the tokens that no earlier window scored count (the guide's `labels[:, :-trg_len] = -100`),
each predicted from the tokens before it in its window. With stride < window every token but the
text's first is scored exactly once, from (window − stride) to (window − 1) tokens of context; with
stride = window the first token of every window has no context and is skipped, as in the guide.

    token perplexity = exp(Σ nll / N)          N = tokens really scored (tokens − 1 when stride < window)
    bits per byte     = Σ nll / ln 2 / B        B = UTF-8 bytes of the text those N tokens cover
    word perplexity   = exp(Σ nll / W)          W = whitespace-separated words of that text

The token-count rule: N counts the tokens really scored after the label shift. The guide's loop
weights each window's mean loss by `num_valid_tokens − batch_size`, one fewer than it really scores
in every window after the first when stride < window, so its figure differs slightly;
`guide_perplexity` reports it too.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from llm_playground.errors import PlaygroundError


@dataclass
class PerplexityResult:
    model: str
    backend: str
    window: int
    stride: int
    windows: int
    tokens: int
    """Tokens of the text (after max_tokens)."""
    tokens_scored: int
    nll_sum: float
    """Σ −ln p over the scored tokens (nats)."""
    bytes_scored: int
    words_scored: int
    guide_perplexity: float
    """What the guide's own loop prints (its per-window count is one short after the first window)."""
    seconds: float

    @property
    def token_perplexity(self) -> float:
        return math.exp(self.nll_sum / self.tokens_scored)

    @property
    def bits_per_byte(self) -> float:
        return self.nll_sum / math.log(2) / self.bytes_scored if self.bytes_scored else float("nan")

    @property
    def word_perplexity(self) -> float:
        return math.exp(self.nll_sum / self.words_scored) if self.words_scored else float("nan")

    @property
    def method(self) -> str:
        return (f"{self.windows} windows of ≤{self.window} tokens every {self.stride} tokens; each token scored once "
                f"(a token with no context before it in its window is not scored): {self.tokens_scored:,} of {self.tokens:,} "
                f"tokens, {self.bytes_scored:,} bytes, {self.words_scored:,} words")

    def to_dict(self) -> dict:
        return {**asdict(self), "token_perplexity": self.token_perplexity, "bits_per_byte": self.bits_per_byte,
                "word_perplexity": self.word_perplexity, "method": self.method}


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored position) of every window, the guide's loop.

    >>> windows(10, 4, 2)
    [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    """
    if window < 2 or not 1 <= stride <= window:
        raise PlaygroundError(f"need window ≥ 2 and 1 ≤ stride ≤ window (got window {window}, stride {stride})")
    spans, previous_end = [], 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + window, n_tokens)
        spans.append((begin, end, max(previous_end, begin + 1)))  # position 0 of the text is never scored
        previous_end = end
        if end == n_tokens:
            break
    return spans


WindowLogits = Callable[[list[int], int], torch.Tensor]
"""(window ids, k) → logits (k, V) of the window's last k positions."""


def window_logits_for(contestant) -> WindowLogits:
    """The engine's way to get a window's last logits (our engines, or transformers')."""
    from llm_playground import zoo
    from llm_playground.generation import backends

    if contestant.loglikelihood_unsupported:
        from llm_playground.evaluation.contestants import NotScorable

        raise NotScorable(contestant.loglikelihood_unsupported)
    if contestant.backend == "hf":
        model = zoo.load_hf_model(contestant.model)
        return lambda ids, keep: model(input_ids=torch.tensor([ids]), logits_to_keep=keep).logits[0]
    if contestant.backend in backends.FAST_PRECISIONS:
        from llm_playground.models.fast import FastDecoder

        decoder = FastDecoder(backends.fast_weights(contestant.model, backends.FAST_PRECISIONS[contestant.backend]))

        def fast(ids, keep):
            decoder.reset(len(ids))
            return decoder.forward(ids, all_logits=True)[-keep:]
        return fast
    model = backends.native_model(contestant.model)
    return lambda ids, keep: model(torch.tensor([ids]), logits_to_keep=keep)[0][0]


def _scored_text(tokenizer, text: str, ids: list[int]) -> str:
    """The part of `text` that ids[1:] cover (what the scored tokens spell)."""
    try:
        encoding = tokenizer(text, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"][:len(ids)]
        start = next((s for s, e in offsets[1:] if e > s), len(text))
        return text[start:offsets[-1][1]]
    except (NotImplementedError, TypeError, KeyError, ValueError):  # slow tokenizers have no offsets
        return tokenizer.decode(ids[1:])


def perplexity(contestant, text: str, *, window: int = 512, stride: int = 256, max_tokens: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> PerplexityResult:
    """Perplexity of `text` under a contestant (`evaluation.resolve_contestant("model@backend")`)."""
    if not text.strip():
        raise PlaygroundError("the text is empty; give a file with some text to score")
    tokenizer = contestant.tokenizer
    ids = list(tokenizer.encode(text))
    if max_tokens:
        ids = ids[:max_tokens]
    if len(ids) < 2:
        raise PlaygroundError(f"the text is {len(ids)} token(s); perplexity needs at least 2")
    spec_context = getattr(getattr(contestant, "spec", None), "context_length", None)
    if spec_context and window > spec_context:
        raise PlaygroundError(f"window {window} is longer than {contestant.label}'s context of {spec_context} tokens")
    spans = windows(len(ids), window, stride)
    logits_of = window_logits_for(contestant)
    nll_sum, scored, guide_weighted, guide_count = 0.0, 0, 0.0, 0
    started = time.perf_counter()
    with torch.inference_mode():
        previous_end = 0
        for done, (begin, end, first) in enumerate(spans, start=1):
            keep = end - first                         # positions first … end-1 are scored,
            logits = logits_of(ids[begin:end], keep + 1)[:-1]  # predicted by positions first-1 … end-2
            targets = torch.tensor(ids[first:end])
            nll = F.cross_entropy(logits.float(), targets, reduction="sum").item()
            nll_sum, scored = nll_sum + nll, scored + keep
            guide_n = keep if begin == 0 else end - previous_end - 1  # the guide's num_valid_tokens - batch_size
            previous_end = end
            guide_weighted, guide_count = guide_weighted + nll / keep * guide_n, guide_count + guide_n
            if progress:
                progress(done, len(spans))
    scored_text = _scored_text(tokenizer, text, ids)
    return PerplexityResult(
        model=getattr(contestant, "label", str(contestant)), backend=contestant.backend, window=window, stride=stride,
        windows=len(spans), tokens=len(ids), tokens_scored=scored, nll_sum=nll_sum,
        bytes_scored=len(scored_text.encode("utf-8")), words_scored=len(scored_text.split()),
        guide_perplexity=math.exp(guide_weighted / guide_count), seconds=time.perf_counter() - started)
