"""Each processor: exactly which tokens survive on a hand-made tensor, the input left unchanged,
equality with the matching transformers processor on random logits, and argument validation."""
import math

import pytest
import torch
from transformers.generation import logits_process as hf

from llm_playground.errors import PlaygroundError
from llm_playground.sampling.processors import (
    BadWordsMask,
    FrequencyPenalty,
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

INF = math.inf
# probabilities 0.5, 0.3, 0.15, 0.05 for tokens 0..3
PROBS = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
LOGITS = PROBS.log()
NO_CONTEXT = torch.zeros((1, 0), dtype=torch.long)


def kept(processor, scores, input_ids=None):
    """Run the processor on a copy-checked input; return the sorted ids that were not masked, per row."""
    if input_ids is None:
        input_ids = torch.zeros((scores.shape[0], 0), dtype=torch.long)
    before = scores.clone()
    ids_before = input_ids.clone()
    out = processor(input_ids, scores)
    assert torch.equal(scores, before), "the processor edited its input scores in place"
    assert torch.equal(input_ids, ids_before), "the processor edited input_ids in place"
    assert out.data_ptr() != scores.data_ptr(), "the processor must return a new tensor"
    return [torch.nonzero(row != -INF).flatten().tolist() for row in out]


# --- hand-made tensors: exactly which tokens survive ----------------------------------------------


def test_temperature_divides_the_logits():
    scores = torch.tensor([[1.0, 2.0, -4.0]])
    out = Temperature(2.0)(NO_CONTEXT, scores)
    assert out.tolist() == [[0.5, 1.0, -2.0]]
    assert scores.tolist() == [[1.0, 2.0, -4.0]]
    assert kept(Temperature(0.5), scores) == [[0, 1, 2]]


def test_top_k_keeps_the_k_highest_and_their_ties():
    scores = torch.tensor([[1.0, 3.0, 2.0, 3.0, 0.0]])
    assert kept(TopK(1), scores) == [[1, 3]]  # a tie with the k-th score stays
    assert kept(TopK(2), scores) == [[1, 3]]
    assert kept(TopK(3), scores) == [[1, 2, 3]]
    assert kept(TopK(99), scores) == [[0, 1, 2, 3, 4]]
    assert kept(TopK(1, min_tokens_to_keep=3), scores) == [[1, 2, 3]]


def test_top_p_keeps_the_smallest_nucleus_reaching_p():
    assert kept(TopP(0.75), LOGITS) == [[0, 1]]  # 0.5 + 0.3 = 0.8 ≥ 0.75
    assert kept(TopP(0.85), LOGITS) == [[0, 1, 2]]  # 0.8 < 0.85 ≤ 0.95
    assert kept(TopP(0.4), LOGITS) == [[0]]
    assert kept(TopP(1.0), LOGITS) == [[0, 1, 2, 3]]
    assert kept(TopP(0.4, min_tokens_to_keep=2), LOGITS) == [[0, 1]]


def test_min_p_scales_the_threshold_by_the_top_probability():
    assert kept(MinP(0.2), LOGITS) == [[0, 1, 2]]  # threshold 0.2 * 0.5 = 0.1
    assert kept(MinP(0.5), LOGITS) == [[0, 1]]  # threshold 0.25
    assert kept(MinP(1.0), LOGITS) == [[0]]
    assert kept(MinP(0.0), LOGITS) == [[0, 1, 2, 3]]
    assert kept(MinP(1.0, min_tokens_to_keep=3), LOGITS) == [[0, 1, 2]]


def test_typical_p_keeps_tokens_whose_surprisal_is_near_the_entropy():
    # H = 1.142 nats; surprisals 0.693, 1.204, 1.897, 2.996 -> distances 0.449, 0.062, 0.755, 1.853,
    # so the typical order is token 1 (p .3), 0 (.5), 2 (.15), 3 (.05); cumulative .3, .8, .95, 1.
    assert kept(TypicalP(0.25), LOGITS) == [[1]]  # the most likely token 0 is dropped
    assert kept(TypicalP(0.5), LOGITS) == [[0, 1]]
    assert kept(TypicalP(0.9), LOGITS) == [[0, 1, 2]]
    assert kept(TypicalP(0.25, min_tokens_to_keep=2), LOGITS) == [[0, 1]]


def test_repetition_penalty_divides_positive_and_multiplies_negative_scores_of_seen_tokens():
    scores = torch.tensor([[2.0, 1.0, -1.0, 3.0]])
    context = torch.tensor([[0, 2, 2]])
    out = RepetitionPenalty(2.0)(context, scores)
    assert out.tolist() == [[1.0, 1.0, -2.0, 3.0]]  # applied once to token 2, seen twice
    assert scores.tolist() == [[2.0, 1.0, -1.0, 3.0]]
    assert kept(RepetitionPenalty(2.0), scores, context) == [[0, 1, 2, 3]]


def test_frequency_penalty_subtracts_once_per_occurrence():
    scores = torch.tensor([[2.0, 1.0, -1.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    context = torch.tensor([[0, 2, 2], [3, 3, 3]])
    out = FrequencyPenalty(0.5)(context, scores)
    assert out.tolist() == [[1.5, 1.0, -2.0, 3.0], [0.0, 0.0, 0.0, -1.5]]
    assert FrequencyPenalty(-1.0)(context, scores).tolist() == [[3.0, 1.0, 1.0, 3.0], [0.0, 0.0, 0.0, 3.0]]
    assert kept(FrequencyPenalty(0.5), scores, context) == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_presence_penalty_subtracts_once_per_seen_token():
    scores = torch.tensor([[2.0, 1.0, -1.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    context = torch.tensor([[0, 2, 2], [3, 3, 3]])
    out = PresencePenalty(0.5)(context, scores)
    assert out.tolist() == [[1.5, 1.0, -1.5, 3.0], [0.0, 0.0, 0.0, -0.5]]
    assert kept(PresencePenalty(0.5), scores, context) == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_frequency_and_presence_penalties_match_a_hand_computation_on_random_logits():
    torch.manual_seed(0)
    scores = torch.randn(3, 7)
    context = torch.randint(0, 7, (3, 9))
    expected = scores.clone()
    for row in range(3):
        for token in range(7):
            count = context[row].tolist().count(token)
            expected[row, token] -= 0.3 * count + (0.7 if count else 0.0)
    out = PresencePenalty(0.7)(context, FrequencyPenalty(0.3)(context, scores))
    torch.testing.assert_close(out, expected)


def test_no_repeat_ngram_masks_the_tokens_that_would_repeat_an_ngram():
    scores = torch.zeros(2, 6)
    context = torch.tensor([[5, 1, 2, 1], [1, 2, 3, 1]])
    # bigrams after the last token 1: row 0 saw (1, 2); row 1 saw (1, 2)
    assert kept(NoRepeatNGram(2), scores, context) == [[0, 1, 3, 4, 5], [0, 1, 3, 4, 5]]
    # trigrams after (2, 1): none in row 0; row 1's suffix is (3, 1): none either
    assert kept(NoRepeatNGram(3), scores, context) == [[0, 1, 2, 3, 4, 5]] * 2
    # unigrams: every token already seen
    assert kept(NoRepeatNGram(1), scores, context) == [[0, 3, 4], [0, 4, 5]]
    trigram_context = torch.tensor([[1, 2, 3, 1, 2]])  # suffix (1, 2) was followed by 3
    assert kept(NoRepeatNGram(3), torch.zeros(1, 6), trigram_context) == [[0, 1, 2, 4, 5]]
    assert kept(NoRepeatNGram(9), torch.zeros(1, 6), trigram_context) == [[0, 1, 2, 3, 4, 5]]  # context too short


def test_bad_words_mask_single_tokens_always_and_multi_token_words_on_their_prefix():
    mask = BadWordsMask([[3], [1, 4], [0, 1, 5]])
    scores = torch.zeros(3, 6)
    context = torch.tensor([[2, 1], [0, 1], [1, 2]])
    assert kept(mask, scores, context) == [[0, 1, 2, 5], [0, 1, 2], [0, 1, 2, 4, 5]]
    with pytest.raises(PlaygroundError, match="outside the model's vocabulary"):
        BadWordsMask([[7]])(context, scores)


def test_pipeline_applies_in_order_and_describes_itself():
    pipeline = ProcessorPipeline([RepetitionPenalty(2.0), Temperature(0.5), TopK(2)])
    scores = torch.tensor([[4.0, 3.0, 1.0]])
    context = torch.tensor([[0]])
    out = pipeline(context, scores)
    # token 0 was seen: 4 -> 2 (penalty) -> 4 (temperature); token 1: 3 -> 6; token 2: 1 -> 2; top-2 drops 2
    assert out.tolist() == [[4.0, 6.0, -INF]]
    assert scores.tolist() == [[4.0, 3.0, 1.0]]
    assert pipeline.names() == ["RepetitionPenalty", "Temperature", "TopK"]
    assert pipeline.describe() == ("1. RepetitionPenalty(penalty=2.0)\n"
                                   "2. Temperature(temperature=0.5)\n"
                                   "3. TopK(top_k=2)")
    empty = ProcessorPipeline()
    assert "no processors" in empty.describe()
    same = empty(context, scores)
    assert torch.equal(same, scores) and same.data_ptr() != scores.data_ptr()


# --- equality with transformers on random logits --------------------------------------------------

PAIRS = [
    (lambda: Temperature(0.7), lambda: hf.TemperatureLogitsWarper(0.7)),
    (lambda: Temperature(1.5), lambda: hf.TemperatureLogitsWarper(1.5)),
    (lambda: TopK(1), lambda: hf.TopKLogitsWarper(1)),
    (lambda: TopK(7), lambda: hf.TopKLogitsWarper(7)),
    (lambda: TopK(3, min_tokens_to_keep=5), lambda: hf.TopKLogitsWarper(3, min_tokens_to_keep=5)),
    (lambda: TopP(0.1), lambda: hf.TopPLogitsWarper(0.1)),
    (lambda: TopP(0.9), lambda: hf.TopPLogitsWarper(0.9)),
    (lambda: TopP(0.5, min_tokens_to_keep=4), lambda: hf.TopPLogitsWarper(0.5, min_tokens_to_keep=4)),
    (lambda: MinP(0.05), lambda: hf.MinPLogitsWarper(0.05)),
    (lambda: MinP(0.3), lambda: hf.MinPLogitsWarper(0.3)),
    (lambda: MinP(0.9, min_tokens_to_keep=3), lambda: hf.MinPLogitsWarper(0.9, min_tokens_to_keep=3)),
    (lambda: TypicalP(0.2), lambda: hf.TypicalLogitsWarper(0.2)),
    (lambda: TypicalP(0.95), lambda: hf.TypicalLogitsWarper(0.95)),
    (lambda: TypicalP(0.5, min_tokens_to_keep=3), lambda: hf.TypicalLogitsWarper(0.5, min_tokens_to_keep=3)),
    (lambda: RepetitionPenalty(1.3), lambda: hf.RepetitionPenaltyLogitsProcessor(1.3)),
    (lambda: RepetitionPenalty(0.6), lambda: hf.RepetitionPenaltyLogitsProcessor(0.6)),
    (lambda: NoRepeatNGram(1), lambda: hf.NoRepeatNGramLogitsProcessor(1)),
    (lambda: NoRepeatNGram(2), lambda: hf.NoRepeatNGramLogitsProcessor(2)),
    (lambda: NoRepeatNGram(3), lambda: hf.NoRepeatNGramLogitsProcessor(3)),
    (lambda: BadWordsMask([[5], [1, 2], [3, 0, 4], [2, 2]]),
     lambda: hf.NoBadWordsLogitsProcessor([[5], [1, 2], [3, 0, 4], [2, 2]])),
]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=[repr(ours()) for ours, _ in PAIRS])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("already_masked", [False, True], ids=["finite", "some-masked"])
def test_equal_to_transformers_on_random_logits(ours, theirs, seed, already_masked):
    generator = torch.Generator().manual_seed(seed)
    vocab_size = 40
    scores = torch.randn(4, vocab_size, generator=generator) * 3
    if already_masked:  # as after an earlier processor in a pipeline: a third of the tokens at -inf
        scores[torch.rand(4, vocab_size, generator=generator) < 0.33] = -INF
    # a small alphabet in the context, so that n-grams and bad-word prefixes repeat
    input_ids = torch.randint(0, 6, (4, 15), generator=generator)
    expected = theirs()(input_ids.clone(), scores.clone())
    before = scores.clone()
    out = ours()(input_ids, scores)
    assert torch.equal(scores, before)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out == -INF, expected == -INF)


# --- argument validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: Temperature(0.0), lambda: Temperature(-1.0), lambda: Temperature(float("nan")),
    lambda: TopK(0), lambda: TopK(2.5), lambda: TopK(True), lambda: TopK(3, min_tokens_to_keep=0),
    lambda: TopP(0.0), lambda: TopP(1.5), lambda: MinP(-0.1), lambda: MinP(1.1),
    lambda: TypicalP(0.0), lambda: TypicalP(1.0), lambda: RepetitionPenalty(0.0),
    lambda: RepetitionPenalty(-2.0), lambda: FrequencyPenalty(float("inf")), lambda: PresencePenalty("1"),
    lambda: NoRepeatNGram(0), lambda: NoRepeatNGram(1.0), lambda: BadWordsMask([]),
    lambda: BadWordsMask([[]]), lambda: BadWordsMask([[1, -2]]), lambda: BadWordsMask([["a"]]),
])
def test_invalid_arguments_are_refused_when_built(build):
    with pytest.raises(PlaygroundError):
        build()


# --- any argument, any logits: still equal to transformers (hypothesis) ----------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    vocab_size=st.integers(1, 30),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    which=st.sampled_from(["top_k", "top_p", "min_p", "typical", "repetition", "ngram"]),
    value=st.floats(0.01, 0.99),
    keep=st.integers(1, 4),
)
def test_warpers_equal_transformers_for_any_argument(seed, vocab_size, scale, which, value, keep):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(3, vocab_size, generator=generator) * scale
    input_ids = torch.randint(0, vocab_size, (3, 8), generator=generator)
    ours, theirs = {
        "top_k": (TopK(1 + int(value * 10), min_tokens_to_keep=keep),
                  hf.TopKLogitsWarper(1 + int(value * 10), min_tokens_to_keep=keep)),
        "top_p": (TopP(value, min_tokens_to_keep=keep), hf.TopPLogitsWarper(value, min_tokens_to_keep=keep)),
        "min_p": (MinP(value, min_tokens_to_keep=keep), hf.MinPLogitsWarper(value, min_tokens_to_keep=keep)),
        "typical": (TypicalP(value, min_tokens_to_keep=keep), hf.TypicalLogitsWarper(value, min_tokens_to_keep=keep)),
        "repetition": (RepetitionPenalty(value * 3), hf.RepetitionPenaltyLogitsProcessor(value * 3)),
        "ngram": (NoRepeatNGram(keep), hf.NoRepeatNGramLogitsProcessor(keep)),
    }[which]
    before = scores.clone()
    out = ours(input_ids, scores)
    assert torch.equal(scores, before)
    torch.testing.assert_close(out, theirs(input_ids, scores.clone()), rtol=0, atol=1e-6)
