"""`llmpg ngram` end to end on a small file."""
import json

from llm_playground.cli import main


def test_ngram_on_a_file(tmp_path, capsys):
    data = tmp_path / "tiny.txt"
    data.write_text("the cat sat on the mat. the dog sat on the log. " * 60, encoding="utf-8")
    assert main(["ngram", "--data", str(data), "--order", "2", "--sample-tokens", "20", "--prompt", "the "]) == 0
    out = capsys.readouterr().out
    assert "train /" in out and "val ppl" in out and "perplexity = e^loss" in out
    assert "Sample from the order-2 model (seed 0):\nthe " in out

    assert main(["ngram", "--data", str(data), "--order", "3", "--smoothing", "add-k", "--k", "0.1",
                 "--sample-tokens", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["order"] for e in report["evaluations"]] == [1, 2, 3]
    assert {e["smoothing"] for e in report["evaluations"]} == {"add-k"}
    assert report["evaluations"][2]["val_perplexity"] < report["evaluations"][0]["val_perplexity"]


def test_ngram_missing_file_is_a_user_error(tmp_path, capsys):
    assert main(["ngram", "--data", str(tmp_path / "nope.txt")]) == 1
    assert "no such file" in capsys.readouterr().err
