"""Task names, the labelled sets, label checks, intervals and ROUGE: no model needed."""
from __future__ import annotations

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.pipelines.bench import wilson_interval
from llm_playground.pipelines.classification import check_labels, parse_labels
from llm_playground.pipelines.data import SENTIMENT_LABELS, sentiment_set, summary_set
from llm_playground.pipelines.run import run_task
from llm_playground.pipelines.summarization import rouge, token_cap
from llm_playground.pipelines.tasks import get_task, known_task_names

SEED_REVIEWS = ["I love this product! It's amazing!", "This is terrible. I want a refund.", "It's okay, nothing special."]


def test_task_names_mirror_transformers():
    assert get_task("sentiment-analysis") is get_task("text-classification")  # an alias, as in transformers
    assert known_task_names() == ["feature-extraction", "sentiment-analysis", "summarization", "text-classification",
                                  "text-generation", "zero-shot-classification"]
    assert get_task("text-classification").methods == ("embeddings-logreg", "embeddings-zero-shot", "llm-few-shot")
    with pytest.raises(PlaygroundError) as error:
        get_task("translation")
    assert str(error.value) == ("unknown task 'translation'; known: feature-extraction, sentiment-analysis, "
                                "summarization, text-classification, text-generation, zero-shot-classification")
    with pytest.raises(PlaygroundError, match="summarization has no method 'bart'; its methods: llm"):
        get_task("summarization").check_method("bart")


def test_the_labelled_sentiment_set():
    rows = sentiment_set()
    assert len(rows) == 180 and len({row.text for row in rows}) == 180
    for label in SENTIMENT_LABELS:
        assert sum(row.label == label for row in rows) == 60
        assert sum(row.label == label and row.split == "test" for row in rows) == 20
    assert len(sentiment_set("train")) == 120 and len(sentiment_set("test")) == 60
    assert not set(SEED_REVIEWS) & {row.text for row in rows}  # the seed's reviews are not in the set


def test_the_summary_set_and_a_file_of_your_own(tmp_path):
    items = summary_set()
    assert len(items) == 6 and items[-1].article == "studies have shown that owning a dog is good for you"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article": "x"}\n')
    with pytest.raises(PlaygroundError, match='item 1: needs a non-empty "article" and "reference"'):
        summary_set(bad)


@pytest.mark.parametrize("labels, message", [
    (None, "the label list is empty"), ([], "the label list is empty"), (["", " "], "the label list is empty"),
    (["sport"], "only one label ('sport'): classification chooses between labels; give at least two"),
    (["a", "b", "a"], "label 'a' is given twice"),
])
def test_bad_label_lists(labels, message):
    with pytest.raises(PlaygroundError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_labels(labels)


def test_label_parsing():
    assert parse_labels(" sport, politics ,food") == ["sport", "politics", "food"]
    assert check_labels(parse_labels("sport,politics")) == ["sport", "politics"]


def test_options_that_do_not_fit_the_task_are_refused_before_any_model():
    with pytest.raises(PlaygroundError, match="labels are for zero-shot-classification"):
        run_task("sentiment-analysis", ["fine"], labels=["a", "b"])
    with pytest.raises(PlaygroundError, match="give the text"):
        run_task("summarization", [])
    with pytest.raises(PlaygroundError, match="only one label"):
        run_task("zero-shot-classification", ["a text"], labels=["sport"])
    with pytest.raises(PlaygroundError, match="text-classification has no method 'bert'"):
        run_task("text-classification", ["a text"], method="bert")


def test_wilson_interval():
    low, high = wilson_interval(45, 60)
    assert (round(low, 3), round(high, 3)) == (0.628, 0.842)
    assert wilson_interval(60, 60)[1] == pytest.approx(1.0) and wilson_interval(0, 60)[0] == 0.0


def test_rouge_is_rouge_score_on_the_course_example():
    scores = rouge("The cat sat on the mat near the window.", "The cat sat on the mat.")
    assert scores["rouge1"]["f"] == pytest.approx(0.8) and scores["rougeL"]["f"] == pytest.approx(0.8)
    assert scores["rouge1"]["precision"] == pytest.approx(6 / 9) and scores["rouge1"]["recall"] == 1.0
    assert scores["rouge2"]["f"] == pytest.approx(0.769, abs=1e-3)
    assert token_cap(30) == 53
