"""The builder adds only the processors that change something, in the documented order."""
import pytest
import torch

from llm_playground.generation.config import GenerationConfig
from llm_playground.sampling.builder import build_processors, uses_warpers


def names(config, **kwargs):
    return build_processors(config, **kwargs).names()


def test_default_config_builds_an_empty_pipeline():
    assert names(GenerationConfig()) == []
    assert names(GenerationConfig(strategy="sample")) == []  # temperature 1, every truncation off


def test_full_order_when_sampling():
    config = GenerationConfig(
        strategy="sample", temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, typical_p=0.95,
        repetition_penalty=1.2, frequency_penalty=0.5, presence_penalty=0.3, no_repeat_ngram_size=3,
        bad_words=["darn"],
    )
    pipeline = build_processors(config, bad_words_ids=[[17, 4]])
    assert pipeline.names() == ["RepetitionPenalty", "FrequencyPenalty", "PresencePenalty", "NoRepeatNGram",
                                "BadWordsMask", "Temperature", "TopK", "TopP", "MinP", "TypicalP"]
    assert pipeline.describe().splitlines() == [
        "1. RepetitionPenalty(penalty=1.2)",
        "2. FrequencyPenalty(penalty=0.5)",
        "3. PresencePenalty(penalty=0.3)",
        "4. NoRepeatNGram(ngram_size=3)",
        "5. BadWordsMask(bad_words_ids=[[17, 4]])",
        "6. Temperature(temperature=0.7)",
        "7. TopK(top_k=40)",
        "8. TopP(top_p=0.9)",
        "9. MinP(min_p=0.05)",
        "10. TypicalP(mass=0.95)",
    ]


@pytest.mark.parametrize("change, expected", [
    ({"temperature": 0.5}, ["Temperature"]),
    ({"temperature": 1.0}, []),
    ({"top_k": 5}, ["TopK"]),
    ({"top_p": 0.5}, ["TopP"]),
    ({"top_p": 1.0}, []),
    ({"min_p": 0.1}, ["MinP"]),
    ({"typical_p": 0.5}, ["TypicalP"]),
    ({"repetition_penalty": 1.1}, ["RepetitionPenalty"]),
    ({"repetition_penalty": 1.0}, []),
    ({"frequency_penalty": -0.5}, ["FrequencyPenalty"]),
    ({"presence_penalty": 0.5}, ["PresencePenalty"]),
    ({"no_repeat_ngram_size": 2}, ["NoRepeatNGram"]),
    ({"top_k": 5, "temperature": 2.0, "repetition_penalty": 1.3}, ["RepetitionPenalty", "Temperature", "TopK"]),
])
def test_sampling_adds_only_what_changes_something(change, expected):
    assert names(GenerationConfig(strategy="sample", **change)) == expected


@pytest.mark.parametrize("config", [
    GenerationConfig(strategy="greedy", repetition_penalty=1.5),  # (greedy refuses warper settings outright)
    GenerationConfig(strategy="sample", temperature=0.0, top_k=5, top_p=0.5, repetition_penalty=1.5),
    GenerationConfig(strategy="beam", num_beams=3, repetition_penalty=1.5),
])
def test_deterministic_decoding_keeps_penalties_and_drops_warpers(config):
    assert not uses_warpers(config)
    assert names(config) == ["RepetitionPenalty"]


def test_warpers_cannot_change_the_argmax_so_greedy_skips_them():
    """The reason the builder drops warpers for greedy decoding, checked on random scores."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(16, 50, generator=generator)
    warpers = build_processors(GenerationConfig(strategy="sample", temperature=0.3, top_k=3, top_p=0.5,
                                                min_p=0.2))
    assert len(warpers) == 4
    assert torch.equal(warpers(torch.zeros(16, 0, dtype=torch.long), scores).argmax(-1), scores.argmax(-1))


def test_bad_words_ids_add_a_mask_and_bad_words_need_ids():
    assert names(GenerationConfig(), bad_words_ids=[[3]]) == ["BadWordsMask"]
    with pytest.raises(ValueError, match="bad_words_ids"):
        build_processors(GenerationConfig(bad_words=["darn"]))


def test_built_pipeline_masks_what_the_config_asks_for():
    config = GenerationConfig(strategy="sample", top_k=2, no_repeat_ngram_size=2)
    pipeline = build_processors(config, bad_words_ids=[[0]])
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    context = torch.tensor([[1, 2, 1]])  # the bigram (1, 2) was seen: 2 may not follow 1 again
    out = pipeline(context, scores)
    assert torch.isfinite(out).nonzero()[:, 1].tolist() == [1, 3]  # 0 is a bad word, 2 repeats a bigram
