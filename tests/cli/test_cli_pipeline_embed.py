"""`llmpg pipeline` and `llmpg embed`: bad input gives one line and exit 1, in a real process too."""
from __future__ import annotations

import subprocess
import sys

import pytest

from llm_playground.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["pipeline", "translation", "Hello"], "unknown task 'translation'; known: feature-extraction, sentiment-analysis, "
                                           "summarization, text-classification, text-generation, zero-shot-classification"),
    (["pipeline", "zero-shot-classification", "A text.", "--labels", ""], "the label list is empty"),
    (["pipeline", "zero-shot-classification", "A text."], "the label list is empty"),
    (["pipeline", "zero-shot-classification", "A text.", "--labels", "sport"], "only one label ('sport')"),
    (["pipeline", "sentiment-analysis"], "give the text(s) for text-classification"),
    (["pipeline", "sentiment-analysis", "Nice.", "--method", "bert"], "text-classification has no method 'bert'"),
    (["pipeline", "bench", "--task", "translation"], "bench needs a task: sentiment or summarization"),
    (["pipeline", "summarization", "Text.", "--task", "x"], "are options of `llmpg pipeline bench`"),
    (["embed", "positions", "--n-positions", "0"], "positions must be between 1 and 8192"),
    (["block", "--model", "t5-huge", "--prompt", "x"], "encoder-decoder architectures (random weights): t5-small"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 1 and out == ""
    assert err.startswith("llmpg: error: ") and err.count("\n") == 1 and message in err


def test_unknown_task_in_a_real_process():
    result = subprocess.run([sys.executable, "-m", "llm_playground", "pipeline", "ner", "Paris is big."],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == ("llmpg: error: unknown task 'ner'; known: feature-extraction, sentiment-analysis, "
                             "summarization, text-classification, text-generation, zero-shot-classification\n")


def test_pipeline_list(capsys):
    code, out, _ = run(["pipeline", "list"], capsys)
    assert code == 0
    assert "text-classification (alias: sentiment-analysis)" in out
    assert "methods: embeddings-logreg, embeddings-zero-shot, llm-few-shot (default embeddings-logreg)" in out


def test_embed_positions_sinusoidal(tmp_path, capsys):
    out_file = tmp_path / "pe.png"
    code, out, _ = run(["embed", "positions", "--kind", "sinusoidal", "--n-positions", "40", "--out", str(out_file)],
                       capsys)
    assert code == 0 and out_file.stat().st_size > 10_000
    assert out.startswith("sinusoidal positions, formula (d_model 128): table (40, 128)")


def test_families(capsys):
    code, out, _ = run(["families"], capsys)
    assert code == 0 and "encoder-decoder  t5-small" in out and "60,506,624" in out


@pytest.mark.slow
def test_the_seed_reviews_through_the_cli(capsys):
    code, out, _ = run(["pipeline", "sentiment-analysis", "I love this product! It's amazing!",
                        "This is terrible. I want a refund.", "It's okay, nothing special.",
                        "--method", "embeddings-zero-shot"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("text-classification — method: embeddings-zero-shot")
    assert [line.split()[0] for line in lines[1:4]] == ["positive", "negative", "neutral"]
