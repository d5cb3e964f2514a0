"""`llmpg bench serve` on a tiny model: every level measured, tokens counted, batching seen."""
import pytest

from llm_playground.bench.serve import format_benchmark, percentile, run_benchmark
from llm_playground.errors import PlaygroundError


@pytest.fixture(scope="module")
def model_folder(tiny_chat_model):
    return tiny_chat_model


def test_bench_serve_measures_each_concurrency(model_folder, one_thread):
    result = run_benchmark(model_folder, clients=(1, 4, 16), new_tokens=6, transport="in-process", progress=False)
    assert [level.clients for level in result.levels] == [1, 4, 16]
    for level in result.levels:
        assert level.tokens == level.clients * 6 and level.requests == level.clients
        assert 0 < level.ttft_p50 <= level.ttft_p95 and level.decode_p50 > 0
    assert result.levels[2].mean_batch > 4  # the 16 requests were decoded together
    assert result.ratio() == result.levels[2].tokens_per_second / result.levels[0].tokens_per_second
    text = format_benchmark(result)
    assert "16 clients ÷ 1 client" in text and "load average" in text
    baseline = run_benchmark(model_folder, clients=(4,), new_tokens=3, transport="in-process", batching=False,
                             progress=False)
    assert baseline.levels[0].tokens == 12 and baseline.levels[0].mean_batch == 0  # one at a time


def test_bench_serve_refuses_bad_settings():
    with pytest.raises(PlaygroundError, match="clients"):
        run_benchmark(clients=(0,))
    with pytest.raises(PlaygroundError, match="new_tokens"):
        run_benchmark(new_tokens=1)
    with pytest.raises(PlaygroundError, match="fast engine"):
        run_benchmark(backend="native")


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 95) == pytest.approx(10.5)


@pytest.mark.slow  # starts a server process: ~10 s idle, 40 s on a busy machine
def test_bench_serve_over_http_against_one_server(model_folder):
    result = run_benchmark(model_folder, clients=(1, 4), new_tokens=4, threads=1, progress=False)
    assert result.transport == "http" and [level.requests for level in result.levels] == [1, 4]
    for level in result.levels:
        assert level.tokens == level.requests * 4 and 0 < level.ttft_p50 <= level.ttft_p95
