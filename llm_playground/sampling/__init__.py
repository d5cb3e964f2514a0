"""Logits processors, the builder that orders them, and the token-choosing strategies.

    from llm_playground.sampling import build_processors, select_greedy, select_sample
    pipeline = build_processors(config, bad_words_ids=ids)
    print(pipeline.describe())            # the effective order
    scores = pipeline(input_ids, logits)  # (B, T), (B, V) -> new (B, V)
"""
from llm_playground.sampling.builder import build_processors, uses_warpers
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
from llm_playground.sampling.strategies import make_generator, select_greedy, select_sample

__all__ = [
    "BadWordsMask", "FrequencyPenalty", "LogitsProcessor", "MinP", "NoRepeatNGram", "PresencePenalty",
    "ProcessorPipeline", "RepetitionPenalty", "Temperature", "TopK", "TopP", "TypicalP",
    "build_processors", "make_generator", "select_greedy", "select_sample", "uses_warpers",
]
