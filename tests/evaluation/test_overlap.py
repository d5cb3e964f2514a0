"""ROUGE equals rouge-score's values (the seeds' example: F 0.8 / 0.769 / 0.8) and the counts explain them."""
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.overlap import format_report, lcs_length, overlap_report


def test_seeds_example_gives_rouge_scores_values_and_explains_the_printed_ones():
    report = overlap_report("The cat sat on the mat near the window.", "The cat sat on the mat.")
    rouge = {r.rouge_type: r for r in report.rouge}
    assert rouge["rouge1"].f == pytest.approx(0.8) and rouge["rouge2"].f == pytest.approx(0.7692307)
    assert rouge["rougeL"].f == pytest.approx(0.8) and rouge["rougeLsum"].f == pytest.approx(0.8)
    assert (rouge["rouge1"].matched, rouge["rouge1"].prediction_total, rouge["rouge1"].reference_total) == (6, 9, 6)
    assert (rouge["rouge2"].matched, rouge["rouge2"].prediction_total, rouge["rouge2"].reference_total) == (5, 8, 5)
    assert rouge["rougeL"].matched == 6
    assert "the ×2" in rouge["rouge1"].matched_ngrams
    assert "0.8571" in report.note and "0.7143" in report.note
    text = format_report(report)
    assert "P = 6/9" in text and "note:" in text


@pytest.mark.parametrize("prediction,reference", [
    ("police killed the gunman", "the gunman was shot dead by police"),
    ("a b c d e f", "f e d c b a"),
    ("the the the", "the cat"),
    ("first line here\nsecond line", "second line\nfirst line there"),
])
def test_our_counts_reproduce_rouge_scores_precision_and_recall(prediction, reference):
    import sacrebleu

    report = overlap_report(prediction, reference)
    for row in report.rouge:
        if row.rouge_type == "rougeLsum":
            continue
        assert row.precision == pytest.approx(row.matched / row.prediction_total if row.prediction_total else 0)
        assert row.recall == pytest.approx(row.matched / row.reference_total if row.reference_total else 0)
    assert report.bleu == pytest.approx(sacrebleu.sentence_bleu(prediction, [reference]).score)
    assert report.chrf == pytest.approx(sacrebleu.sentence_chrf(prediction, [reference]).score)
    assert report.note == ""


def test_lcs_and_empty_input():
    assert lcs_length("a b c d".split(), "b d a c".split()) == 2
    assert lcs_length([], ["a"]) == 0
    with pytest.raises(PlaygroundError, match="non-empty"):
        overlap_report("  ", "x")
