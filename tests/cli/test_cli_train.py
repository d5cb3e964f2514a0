"""`llmpg train`, `llmpg sample`, `llmpg scaling fit`: end to end on a tiny model and file."""
import json
import re

import pytest
import torch

from llm_playground.cli import main


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    threads = torch.get_num_threads()
    monkeypatch.setenv("LLMPG_THREADS", "1")  # main() applies it; tiny models want one thread
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log.\n" * 200, encoding="utf-8")
    return path


TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "8",
        "--eval-batches", "2", "--warmup-steps", "2", "--compile", "off"]


def test_train_then_sample(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--max-steps", "20", "--eval-every", "10",
                 "--sample-tokens", "30", *TINY]) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert re.search(r"model: [\d,]+ parameters \(1 layers × 32, 2 heads, context 32\)", text)
    assert "tokens per step: 256 (8 × 32)" in text
    assert "Chinchilla-optimal for" in text and "measured on the first steps:" in text
    assert "bigram (Kneser-Ney)" in text and "perplexity = e^loss" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evaluations"]] == [10, 20]
    assert (out / "loss.png").is_file() and (out / "checkpoint" / "model.safetensors").is_file()

    assert main(["sample", "--checkpoint", str(out), "--prompt", "the ", "--max-new-tokens", "50"]) == 0
    sampled = capsys.readouterr().out
    assert sampled.startswith("the ") and len(sampled) == len("the ") + 50 + 1  # + the final newline
    assert set(sampled) <= set("the cat sat on the mat. the dog sat on the log.\n")


def test_train_user_errors(data, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.txt")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--block-size", "64", "--context-length", "32"]) == 1
    assert "larger than the model's context" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert "holds no checkpoint" in capsys.readouterr().err
    assert main(["scaling", "fit", "--size", "2by32"]) == 1
    assert "LAYERSxWIDTH" in capsys.readouterr().err
