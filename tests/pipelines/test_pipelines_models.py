"""The seed's three reviews by each method, the exact label likelihood, zero-shot labels, summarization."""
from __future__ import annotations

import pytest
import torch

from llm_playground.pipelines.classification import (LLM, SENTIMENT_INSTRUCTION, classify_sentiment, classify_zero_shot,
                                                     few_shot_examples, label_loglikelihoods)
from llm_playground.pipelines.run import format_result, run_task

pytestmark = pytest.mark.slow
SEED_REVIEWS = ["I love this product! It's amazing!", "This is terrible. I want a refund.", "It's okay, nothing special."]


@pytest.mark.parametrize("method", ["embeddings-logreg", "embeddings-zero-shot"])
def test_the_seeds_three_reviews(method):
    result = run_task("sentiment-analysis", SEED_REVIEWS, method=method)
    assert [p.label for p in result.output.predictions] == ["positive", "negative", "neutral"]
    for prediction in result.output.predictions:
        assert sum(prediction.scores.values()) == pytest.approx(1.0)
        assert prediction.score == max(prediction.scores.values())
    text = format_result(result)
    assert text.startswith(f"text-classification — method: {method}")
    assert "transformers' pipeline would download distilbert-base-uncased-finetuned-sst-2-english" in text


def test_llm_label_likelihood_equals_transformers_full_forward():
    """Our cached scorer against the plain way: transformers' model over context + answer, no cache."""
    from llm_playground import zoo

    shots = few_shot_examples(1)
    labels = ["negative", "neutral", "positive"]
    ours = label_loglikelihoods(LLM, SENTIMENT_INSTRUCTION, shots, SEED_REVIEWS[1:2], labels)[0]
    tokenizer, model = zoo.load_tokenizer(LLM), zoo.load_hf_model(LLM)
    context = (SENTIMENT_INSTRUCTION + "\n\n" + "".join(f"Text: {t}\nSentiment: {l}\n\n" for t, l in shots)
               + f"Text: {SEED_REVIEWS[1]}\nSentiment:")
    context_ids = tokenizer(context)["input_ids"]
    for label, score in zip(labels, ours):
        answer = tokenizer(context + f" {label}\n")["input_ids"][len(context_ids):]
        with torch.inference_mode():
            logits = model(torch.tensor([context_ids + answer])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        expected = sum(float(logprobs[len(context_ids) - 1 + k, token]) for k, token in enumerate(answer))
        assert score == pytest.approx(expected, abs=2e-3)


def test_llm_method_runs_and_says_so():
    output = classify_sentiment(SEED_REVIEWS[:1], "llm-few-shot")
    assert output.model == LLM and output.predictions[0].label == "positive"
    assert set(output.predictions[0].details) == {"negative", "neutral", "positive"}
    assert all(value < 0 for value in output.predictions[0].details.values())  # log-likelihoods


@pytest.mark.parametrize("method", ["embeddings", "llm"])
def test_zero_shot_with_your_own_labels(method):
    output = classify_zero_shot(["The striker scored twice in the derby.", "Parliament passed the budget today.",
                                 "This curry is spicy and delicious."], ["sport", "politics", "food"], method)
    assert [p.label for p in output.predictions] == ["sport", "politics", "food"]


def test_a_text_longer_than_the_encoder_reads_is_cut_and_said():
    result = run_task("sentiment-analysis", ["great " * 700], method="embeddings-zero-shot")
    assert any("text 1 is 702 tokens; minilm-l6 reads the first 256" in note for note in result.notes)


def test_summarization_of_the_t5_sentence():
    result = run_task("summarization", ["studies have shown that owning a dog is good for you"], max_words=12,
                      reference="Owning a dog is good for you.")
    summary = result.output[0]
    assert summary.summary and summary.new_tokens <= 26
    assert set(summary.rouge) == {"rouge1", "rouge2", "rougeL"} and 0 <= summary.rouge["rouge1"]["f"] <= 1
