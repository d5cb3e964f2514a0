"""Build the processor pipeline for a `GenerationConfig`, in one fixed, documented order.

The order is transformers' (`GenerationMixin._get_logits_processor`), with OpenAI's frequency
and presence penalties, which transformers lacks, next to the repetition penalty:

    0. GrammarMask         a constraint given (structured output): masks what it does not allow
    1. RepetitionPenalty   repetition_penalty != 1
    2. FrequencyPenalty    frequency_penalty != 0
    3. PresencePenalty     presence_penalty != 0
    4. NoRepeatNGram       no_repeat_ngram_size > 0
    5. BadWordsMask        bad_words_ids given
    --- the warpers below only when sampling (strategy "sample" with temperature > 0) ---
    6. Temperature         temperature != 1
    7. TopK                top_k > 0
    8. TopP                top_p < 1
    9. MinP                min_p > 0
   10. TypicalP            typical_p < 1

Why this order: the constraint comes first so that the mass it removes is measured on the model's
own distribution (what a learner sees as "where the model wanted to go"), and so that top-k / top-p
truncate only among allowed tokens (after them, they could keep nothing the constraint allows);
penalties and masks work on the raw scores, as the model produced them; the
temperature then reshapes the distribution that top-k / top-p / min-p / typical-p truncate (so a
temperature changes which tokens top-p keeps, but not which tokens top-k keeps).

A processor is added only when its setting changes something. For greedy decoding (strategy
"greedy", or "sample" at temperature 0) and for beam search the warpers are left out, as
transformers leaves them out when do_sample=False: temperature, top-k, top-p and min-p always keep
the highest-scoring token, so they cannot change an argmax; typical-p can drop it, but it is a way
of sampling, and greedy decoding ignores it (GenerationConfig refuses it for beam search).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llm_playground.sampling.processors import (
    BadWordsMask,
    FrequencyPenalty,
    LogitsProcessor,
    MinP,
    NoRepeatNGram,
    PresencePenalty,
    ProcessorPipeline,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    TypicalP,
)

if TYPE_CHECKING:  # only the type: importing generation here would make the two packages import each other
    from llm_playground.generation.config import GenerationConfig


def uses_warpers(config: "GenerationConfig") -> bool:
    """Whether temperature / top-k / top-p / min-p / typical-p take part (sampling at T > 0)."""
    return config.strategy == "sample" and not config.is_greedy


def build_processors(config: "GenerationConfig", *, bad_words_ids: Sequence[Sequence[int]] = (),
                     constraint: LogitsProcessor | None = None) -> ProcessorPipeline:
    """The processors `config` asks for, in the order documented in this module.

    Args:
        config: the validated generation settings.
        bad_words_ids: token-id sequences that must never be generated, one per entry of
            `config.bad_words` (tokenized with the model's own tokenizer, which this module does
            not know), plus any single tokens to suppress.
        constraint: the `structured.GrammarMask` for `config.constraint` (it needs the tokenizer
            and the end-of-sequence ids, which this module does not know).

    `print(build_processors(config).describe())` shows the effective order.
    """
    if config.bad_words and not bad_words_ids:
        raise ValueError("config.bad_words is set but no bad_words_ids were given: tokenize the bad "
                         "words with the model's tokenizer and pass their ids")
    if config.constraint is not None and constraint is None:
        raise ValueError("config.constraint is set but no constraint processor was given: build "
                         "structured.GrammarMask(config.constraint, tokenizer, eos_ids) and pass it")
    processors: list[LogitsProcessor] = [constraint] if constraint is not None else []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.frequency_penalty != 0.0:
        processors.append(FrequencyPenalty(config.frequency_penalty))
    if config.presence_penalty != 0.0:
        processors.append(PresencePenalty(config.presence_penalty))
    if config.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGram(config.no_repeat_ngram_size))
    if bad_words_ids:
        processors.append(BadWordsMask(bad_words_ids))

    if uses_warpers(config):
        if config.temperature != 1.0:
            processors.append(Temperature(config.temperature))
        if config.top_k > 0:
            processors.append(TopK(config.top_k))
        if config.top_p < 1.0:
            processors.append(TopP(config.top_p))
        if config.min_p > 0.0:
            processors.append(MinP(config.min_p))
        if config.typical_p < 1.0:
            processors.append(TypicalP(config.typical_p))
    return ProcessorPipeline(processors)
