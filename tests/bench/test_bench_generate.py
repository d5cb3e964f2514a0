"""`llmpg bench generate` on SmolLM2 with few tokens: every row is measured, compared and printed."""
import json

import pytest
import torch

from llm_playground.bench.generate import _agreement, format_benchmark, run_benchmark
from llm_playground.cli import main


def test_agreement_counts_the_identical_prefix_and_equal_positions():
    assert _agreement([1, 2, 3, 4], [1, 2, 9, 4]) == (2, 0.75)
    assert _agreement([1, 2], [1, 2]) == (2, 1.0)
    assert _agreement([5, 2], [1, 2]) == (0, 0.5)


@pytest.mark.slow
def test_benchmark_rows_agree_with_transformers_and_print_the_ratio(capsys):
    threads = torch.get_num_threads()
    result = run_benchmark(new_tokens=6, repeats=1, perplexity_tokens=64, native=False, batch=4, threads=1,
                           progress=False)
    assert torch.get_num_threads() == threads  # restored
    assert result.threads == 1 and result.new_tokens == 6 and result.prompt_tokens > 80
    engines = [row.engine for row in result.rows]
    assert engines == ["transformers generate", "ours: fast", "ours: fast-bf16", "ours: fast-int8", "ours: fast-int4"]
    hf, fast = result.rows[0], result.rows[1]
    assert hf.decode_ratio == 1.0 and fast.identical_prefix == 6 and fast.tokens == hf.tokens
    assert fast.perplexity == pytest.approx(hf.perplexity, rel=1e-4)  # fp32: the same model
    for row in result.rows[2:]:  # reduced precision: measured, within a sanity bound
        assert row.perplexity == pytest.approx(hf.perplexity, rel=0.1)
        assert row.weight_bytes_per_token < fast.weight_bytes_per_token
    for row in result.rows:
        assert row.decode_tokens_per_second > 0 and row.time_to_first_token_s > 0
        assert row.decode_ratio == pytest.approx(row.decode_tokens_per_second / hf.decode_tokens_per_second)
    assert [row.engine for row in result.batch_rows] == engines[1:]
    for batch_row in result.batch_rows:
        assert batch_row.prompts == 4 and batch_row.aggregate_tokens_per_second > 0
        assert batch_row.first_prompt_identical >= 3  # the benchmark prompt leads the batch
    text = format_benchmark(result)
    assert "decode speed-up vs transformers generate: fast fp32" in text and "(tokens identical)" in text
    assert json.loads(json.dumps(result.to_dict()))["rows"][1]["engine"] == "ours: fast"


@pytest.mark.slow
def test_cli_prints_json(capsys):
    assert main(["bench", "generate", "--new-tokens", "3", "--repeats", "1", "--perplexity-tokens", "0",
                 "--no-native", "--batch", "0", "--threads", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["engine"] for row in data["rows"]][:2] == ["transformers generate", "ours: fast"]
    assert all(row["perplexity"] is None for row in data["rows"]) and data["batch_rows"] == []
