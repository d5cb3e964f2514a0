"""The tokenizer benchmark's pieces: its minbpe-style baseline is a fair (correct) comparison, its
text is big enough, and a tiny run produces a table whose ids all match. No speed is asserted."""
import tiktoken

from llm_playground import assets
from llm_playground.bench.tokenize import MIN_BYTES, MinBPEBaseline, benchmark_text, format_benchmark, run_benchmark
from llm_playground.tokenizers import TiktokenTokenizer, train_bpe
from llm_playground.tokenizers.registry import published_vocab

TEXT = "Hello world! It's 2024: naïve café, 你好, 😀 emoji.\n\n    def f(x):\n        return x ** 2\n"


def test_minbpe_baseline_equals_tiktoken_on_gpt2_ranks():
    assets.ensure_tiktoken_vocabularies()
    baseline = MinBPEBaseline(published_vocab("bpe-gpt2"))
    assert baseline.encode_ordinary(TEXT) == tiktoken.get_encoding("gpt2").encode_ordinary(TEXT)


def test_minbpe_baseline_equals_fast_path_on_a_trained_vocab():
    vocab = train_bpe(TEXT * 10, 300)
    assert MinBPEBaseline(vocab).encode_ordinary(TEXT) == TiktokenTokenizer.from_vocab(vocab).encode_ordinary(TEXT)


def test_benchmark_text_is_at_least_5_mib():
    text, source = benchmark_text()
    assert len(text.encode("utf-8")) >= MIN_BYTES == 5 * 2**20 and source.startswith("Shakespeare")


def test_run_benchmark_small(monkeypatch):
    import llm_playground.bench.tokenize as bench

    monkeypatch.setattr(bench, "benchmark_text", lambda min_bytes: (TEXT * 200, "test text"))
    result = run_benchmark(megabytes=0.01, repeats=1, baseline=True, train_vocab_size=300, progress=False)
    labels = [row.implementation for row in result.rows]
    assert labels[:4] == ["tiktoken gpt2", "ours fast, gpt2 ranks", "ours reference, gpt2 ranks", "minbpe-style baseline, gpt2"]
    assert labels[4] == "HF tokenizers, gpt2 ranks" and labels[-1] == "HF tokenizers, trained 300"
    assert all(row.ids_match for row in result.rows) and len(result.rows) == 13
    assert result.rows[0].ratio == 1.0 and result.rows[0].tokens == len(tiktoken.get_encoding("gpt2").encode_ordinary(TEXT * 200))
    table = format_benchmark(result)
    assert "reference vs minbpe-style baseline (gpt2)" in table and "DIFFERENT" not in table
    assert "Training 300 tokens (44 merges) on this text" in table
