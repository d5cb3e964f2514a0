"""Logits processors: small functions that reshape the next-token scores before a token is chosen.

Every processor follows transformers' `LogitsProcessor` protocol:

    processor(input_ids, scores) -> new_scores
        input_ids: LongTensor (B, T)  the whole context so far (prompt + generated), one row per sequence
        scores:    FloatTensor (B, V) logits (or log-probs, in beam search) for the next token

A processor validates its arguments when it is built (raising `PlaygroundError`), returns a NEW
tensor and never edits its input in place. A masked token gets the score -inf, so that softmax gives
it probability 0 and argmax never picks it.

Each class here is proved equal to the matching transformers processor in
tests/sampling/test_processors.py (frequency and presence penalties have no transformers
counterpart; they are checked against a hand computation).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import torch

from llm_playground.errors import PlaygroundError

MASKED = -math.inf
"""The score a removed token gets: probability exp(-inf) = 0."""


class LogitsProcessor:
    """Base class: `__call__(input_ids (B, T), scores (B, V)) -> new scores (B, V)`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _arguments(self) -> dict:
        """The constructor arguments, for `repr` and the pipeline's `describe()`."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self._arguments().items())
        return f"{type(self).__name__}({args})"


# --- helpers ---------------------------------------------------------------------------------------


def _check_min_tokens_to_keep(min_tokens_to_keep: int) -> int:
    if not isinstance(min_tokens_to_keep, int) or min_tokens_to_keep < 1:
        raise PlaygroundError(f"min_tokens_to_keep must be an integer ≥ 1 (got {min_tokens_to_keep!r})")
    return min_tokens_to_keep


def _check_finite_number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlaygroundError(f"{name} must be a finite number (got {value!r})")
    return float(value)


def _occurrence_counts(input_ids: torch.LongTensor, vocab_size: int) -> torch.Tensor:
    """How often each token id occurs in each row: (B, T) ids -> (B, V) float counts.

    Ids ≥ vocab_size (an embedding table larger than the output layer) cannot be generated and
    are dropped.

    >>> _occurrence_counts(torch.tensor([[2, 0, 2]]), 4)
    tensor([[1., 0., 2., 0.]])
    """
    counts = torch.zeros(input_ids.shape[0], vocab_size + 1, device=input_ids.device)  # spare column for ids ≥ V
    counts.scatter_add_(1, input_ids.clamp(max=vocab_size), torch.ones_like(input_ids, dtype=counts.dtype))
    return counts[:, :vocab_size]


# --- penalties: look at the context ---------------------------------------------------------------


class RepetitionPenalty(LogitsProcessor):
    """CTRL's repetition penalty (Keskar et al. 2019) on every token already in the context.

    For a token seen at least once (in the prompt or the generated text):
        score' = score / penalty   if score > 0
        score' = score * penalty   if score ≤ 0
    so penalty > 1 makes repeated tokens less likely, 0 < penalty < 1 more likely. The penalty is
    applied once per token, however often it occurred. Equal to transformers'
    `RepetitionPenaltyLogitsProcessor`.
    """

    def __init__(self, penalty: float):
        penalty = _check_finite_number("repetition_penalty", penalty)
        if penalty <= 0:
            raise PlaygroundError(f"repetition_penalty must be > 0 (got {penalty}); 1 switches it off")
        self.penalty = penalty

    def _arguments(self) -> dict:
        return {"penalty": self.penalty}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        seen = _occurrence_counts(input_ids, scores.shape[-1]).to(scores.device) > 0  # (B, V)
        penalised = torch.where(scores > 0, scores / self.penalty, scores * self.penalty)
        return torch.where(seen, penalised, scores)


class FrequencyPenalty(LogitsProcessor):
    """OpenAI's frequency penalty: subtract `penalty` once per earlier occurrence of a token.

        score'[v] = score[v] - penalty * count[v]
    where count[v] is how often token v occurs in the context (prompt + generated). A negative
    penalty encourages repetition. No transformers counterpart; tested against a hand computation.
    """

    def __init__(self, penalty: float):
        self.penalty = _check_finite_number("frequency_penalty", penalty)

    def _arguments(self) -> dict:
        return {"penalty": self.penalty}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        counts = _occurrence_counts(input_ids, scores.shape[-1]).to(scores)  # (B, V)
        return scores - self.penalty * counts


class PresencePenalty(LogitsProcessor):
    """OpenAI's presence penalty: subtract `penalty` once from every token already in the context.

        score'[v] = score[v] - penalty * [count[v] > 0]
    No transformers counterpart; tested against a hand computation.
    """

    def __init__(self, penalty: float):
        self.penalty = _check_finite_number("presence_penalty", penalty)

    def _arguments(self) -> dict:
        return {"penalty": self.penalty}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        present = (_occurrence_counts(input_ids, scores.shape[-1]) > 0).to(scores)  # (B, V) of 0/1
        return scores - self.penalty * present


class NoRepeatNGram(LogitsProcessor):
    """Forbid any n-gram (n consecutive tokens) from occurring twice in the context.

    If the last n-1 tokens are (a, b) and the context already contains (a, b, c) somewhere, then
    c is masked. With n = 1 every token already seen is masked. Equal to transformers'
    `NoRepeatNGramLogitsProcessor`.
    """

    def __init__(self, ngram_size: int):
        if isinstance(ngram_size, bool) or not isinstance(ngram_size, int) or ngram_size < 1:
            raise PlaygroundError(f"no_repeat_ngram_size must be an integer ≥ 1 (got {ngram_size!r}); "
                                  "0 switches it off")
        self.ngram_size = ngram_size

    def _arguments(self) -> dict:
        return {"ngram_size": self.ngram_size}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        n = self.ngram_size
        batch, length = input_ids.shape
        vocab_size = scores.shape[-1]
        if length < n:  # no complete n-gram yet
            return scores.clone()
        # Every n-gram in the context: (B, T-n+1, n). Its first n-1 tokens are compared with the
        # current suffix (the last n-1 tokens); a match bans the n-gram's last token.
        ngrams = input_ids.unfold(dimension=1, size=n, step=1)
        suffix = input_ids[:, length - (n - 1):]  # (B, n-1)
        matches = (ngrams[:, :, :-1] == suffix[:, None, :]).all(dim=-1)  # (B, T-n+1)
        # Banned tokens go to their column; non-matching n-grams (and ids ≥ V) to a spare column.
        banned_column = torch.where(matches, ngrams[:, :, -1].clamp(max=vocab_size), vocab_size)
        banned = torch.zeros(batch, vocab_size + 1, dtype=torch.bool, device=scores.device)
        banned.scatter_(1, banned_column.to(scores.device), True)
        return scores.masked_fill(banned[:, :vocab_size], MASKED)


class BadWordsMask(LogitsProcessor):
    """Never generate the given token sequences (bad words), or the given single tokens (a stop-token mask).

    A one-token sequence [v] masks v at every step. A longer sequence [a, b, c] masks c only when
    the context ends with its prefix [a, b], so the sequence can never be completed. Equal to
    transformers' `NoBadWordsLogitsProcessor`.
    """

    def __init__(self, bad_words_ids: Iterable[Sequence[int]]):
        sequences = [list(sequence) for sequence in bad_words_ids]
        if not sequences:
            raise PlaygroundError("bad_words_ids must hold at least one token sequence")
        for sequence in sequences:
            if not sequence or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in sequence):
                raise PlaygroundError(f"each bad word must be a non-empty list of token ids ≥ 0 (got {sequence!r})")
        self.bad_words_ids = sequences
        self.single_tokens = sorted({s[0] for s in sequences if len(s) == 1})
        self.multi_token = [s for s in sequences if len(s) > 1]

    def _arguments(self) -> dict:
        return {"bad_words_ids": self.bad_words_ids}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        batch, vocab_size = scores.shape
        too_large = [t for s in self.bad_words_ids for t in s if t >= vocab_size]
        if too_large:
            raise PlaygroundError(f"bad word token ids {too_large} are outside the model's vocabulary of "
                                  f"{vocab_size}; tokenize the bad words with this model's tokenizer")
        banned = torch.zeros(batch, vocab_size, dtype=torch.bool, device=scores.device)
        banned[:, self.single_tokens] = True
        for sequence in self.multi_token:
            prefix = torch.tensor(sequence[:-1], device=input_ids.device)
            if len(prefix) > input_ids.shape[1]:  # the context is shorter than the prefix
                continue
            ends_with_prefix = (input_ids[:, -len(prefix):] == prefix).all(dim=-1)  # (B,)
            banned[:, sequence[-1]] |= ends_with_prefix.to(scores.device)
        return scores.masked_fill(banned, MASKED)


# --- warpers: reshape the distribution (sampling only) --------------------------------------------


class Temperature(LogitsProcessor):
    """Divide the logits by a temperature T > 0: p ∝ exp(logit / T).

    T < 1 sharpens the distribution (T → 0 approaches argmax), T > 1 flattens it. Greedy decoding
    (T = 0 in `GenerationConfig`) never builds this processor. Equal to transformers'
    `TemperatureLogitsWarper`.
    """

    def __init__(self, temperature: float):
        temperature = _check_finite_number("temperature", temperature)
        if temperature <= 0:
            raise PlaygroundError(f"temperature must be > 0 for this processor (got {temperature}); "
                                  "for temperature 0 use greedy decoding")
        self.temperature = temperature

    def _arguments(self) -> dict:
        return {"temperature": self.temperature}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature


class TopK(LogitsProcessor):
    """Keep the k highest scores and mask the rest: keep v iff score[v] ≥ the k-th highest score.

    Ties with the k-th score are kept. Equal to transformers' `TopKLogitsWarper`.
    """

    def __init__(self, top_k: int, *, min_tokens_to_keep: int = 1):
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise PlaygroundError(f"top_k must be an integer ≥ 1 (got {top_k!r}); 0 switches it off")
        self.top_k = max(top_k, _check_min_tokens_to_keep(min_tokens_to_keep))

    def _arguments(self) -> dict:
        return {"top_k": self.top_k}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.top_k, scores.shape[-1])
        kth_highest = torch.topk(scores, k, dim=-1).values[:, -1:]  # (B, 1)
        return scores.masked_fill(scores < kth_highest, MASKED)


class TopP(LogitsProcessor):
    """Nucleus sampling (Holtzman et al. 2019): keep the smallest set of most likely tokens whose
    probabilities add up to at least top_p.

    Sorting p ascending, token v is dropped iff the cumulative probability up to and including v
    is ≤ 1 - top_p (the mass of everything at least as unlikely as v fits in the tail we may
    drop). The most likely `min_tokens_to_keep` tokens always stay. Equal to transformers'
    `TopPLogitsWarper`.
    """

    def __init__(self, top_p: float, *, min_tokens_to_keep: int = 1):
        top_p = _check_finite_number("top_p", top_p)
        if not 0 < top_p <= 1:
            raise PlaygroundError(f"top_p must be in (0, 1] (got {top_p}); 1 switches it off")
        self.top_p = top_p
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def _arguments(self) -> dict:
        return {"top_p": self.top_p}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        sorted_scores, order = torch.sort(scores, descending=False)  # least likely first
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)  # (B, V)
        drop_sorted = cumulative <= 1 - self.top_p
        drop_sorted[:, -self.min_tokens_to_keep:] = False  # the most likely ones stay
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)  # back to vocabulary order
        return scores.masked_fill(drop, MASKED)


class MinP(LogitsProcessor):
    """Min-p sampling (Nguyen et al. 2024): drop tokens less likely than min_p × the top probability.

        keep v iff p[v] ≥ min_p * max_u p[u]
    The most likely `min_tokens_to_keep` tokens always stay. Equal to transformers'
    `MinPLogitsWarper`.
    """

    def __init__(self, min_p: float, *, min_tokens_to_keep: int = 1):
        min_p = _check_finite_number("min_p", min_p)
        if not 0 <= min_p <= 1:
            raise PlaygroundError(f"min_p must be in [0, 1] (got {min_p}); 0 switches it off")
        self.min_p = min_p
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def _arguments(self) -> dict:
        return {"min_p": self.min_p}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        probs = scores.softmax(dim=-1)  # (B, V)
        threshold = self.min_p * probs.amax(dim=-1, keepdim=True)  # (B, 1)
        drop = probs < threshold
        k = min(self.min_tokens_to_keep, probs.shape[-1])
        drop = drop.scatter(1, torch.topk(probs, k, dim=-1).indices, False)
        return scores.masked_fill(drop, MASKED)


class TypicalP(LogitsProcessor):
    """Locally typical sampling (Meister et al. 2022): keep the tokens whose surprisal is closest to
    the entropy, until their probabilities add up to `mass`.

        H = -Σ p log p,   distance[v] = | -log p[v] - H |
    Sort tokens by distance (closest first) and keep the shortest prefix whose cumulative
    probability reaches `mass`; ties with the last kept distance stay too. Note that the most
    likely token can be dropped. Equal to transformers' `TypicalLogitsWarper`.
    """

    def __init__(self, mass: float, *, min_tokens_to_keep: int = 1):
        mass = _check_finite_number("typical_p", mass)
        if not 0 < mass < 1:
            raise PlaygroundError(f"typical_p must be in (0, 1) for this processor (got {mass}); "
                                  "1 switches it off")
        self.mass = mass
        self.min_tokens_to_keep = _check_min_tokens_to_keep(min_tokens_to_keep)

    def _arguments(self) -> dict:
        return {"mass": self.mass}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        log_probs = scores.log_softmax(dim=-1)  # (B, V)
        entropy = -(log_probs * log_probs.exp()).nansum(dim=-1, keepdim=True)  # (B, 1) nats; -inf*0 = nan skipped
        distance = (-log_probs - entropy).abs()  # (B, V)
        sorted_distance, order = torch.sort(distance, descending=False)  # most typical first
        cumulative = scores.gather(-1, order).softmax(dim=-1).cumsum(dim=-1)
        # The last kept position is the first one whose cumulative probability reaches the mass.
        last_kept = (cumulative < self.mass).sum(dim=-1, keepdim=True).clamp(max=scores.shape[-1] - 1)
        drop_sorted = sorted_distance > sorted_distance.gather(1, last_kept)
        drop_sorted[:, :self.min_tokens_to_keep] = False
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        return scores.masked_fill(drop, MASKED)


# --- the pipeline ----------------------------------------------------------------------------------


class ProcessorPipeline:
    """Processors applied one after another, in order (transformers' `LogitsProcessorList`).

    >>> pipeline = ProcessorPipeline([Temperature(0.7), TopK(50)])
    >>> print(pipeline.describe())
    1. Temperature(temperature=0.7)
    2. TopK(top_k=50)
    """

    def __init__(self, processors: Iterable[LogitsProcessor] = ()):
        self.processors: tuple[LogitsProcessor, ...] = tuple(processors)
        for processor in self.processors:
            if not callable(processor):
                raise TypeError(f"{processor!r} is not a logits processor")

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        """Apply every processor in order; returns a new tensor (the input is never changed)."""
        for processor in self.processors:
            scores = processor(input_ids, scores)
        return scores if self.processors else scores.clone()

    def __iter__(self) -> Iterator[LogitsProcessor]:
        return iter(self.processors)

    def __len__(self) -> int:
        return len(self.processors)

    def __getitem__(self, index: int) -> LogitsProcessor:
        return self.processors[index]

    def names(self) -> list[str]:
        """The class names in order, e.g. ["RepetitionPenalty", "Temperature", "TopK"]."""
        return [type(processor).__name__ for processor in self.processors]

    def describe(self) -> str:
        """The effective order, one numbered processor with its arguments per line."""
        if not self.processors:
            return "(no processors: the model's scores are used unchanged)"
        return "\n".join(f"{i}. {processor!r}" for i, processor in enumerate(self.processors, start=1))

    def __repr__(self) -> str:
        return f"ProcessorPipeline({list(self.processors)!r})"
