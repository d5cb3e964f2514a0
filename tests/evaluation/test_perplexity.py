"""Perplexity with a sliding window: equal to an independent computation with transformers' model and
Hugging Face's strided loop (with the true token count), on every engine."""
from __future__ import annotations

import math

import pytest
import torch

from llm_playground.evaluation.contestants import resolve_contestant
from llm_playground.evaluation.perplexity import perplexity, windows


def guide_perplexity(model, ids: list[int], window: int, stride: int) -> tuple[float, float]:
    """Hugging Face's perplexity guide, transcribed: (ppl with the tokens really scored, ppl as the guide counts)."""
    input_all = torch.tensor([ids])
    seq_len = input_all.size(1)
    nll_true, n_true, nll_guide, n_guide, prev_end_loc = 0.0, 0, 0.0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + window, seq_len)
        trg_len = end_loc - prev_end_loc
        input_ids = input_all[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = model(input_ids, labels=target_ids).loss.item()
        really_scored = int((target_ids[:, 1:] != -100).sum())  # after the model's internal label shift
        nll_true += loss * really_scored
        n_true += really_scored
        guide_count = int((target_ids != -100).sum()) - 1  # the guide's num_valid_tokens - batch_size
        nll_guide += loss * guide_count
        n_guide += guide_count
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return math.exp(nll_true / n_true), math.exp(nll_guide / n_guide)


def test_windows_score_every_token_once_with_context():
    for n, window, stride in [(10, 4, 2), (100, 16, 5), (7, 8, 8), (33, 8, 8)]:
        spans = windows(n, window, stride)
        covered = [t for _, end, first in spans for t in range(first, end)]
        if stride < window:  # every token but the text's first
            assert covered == list(range(1, n))
        else:  # the first token of every window has no context in it
            assert covered == [t for t in range(n) if t % window != 0]
        for begin, end, first in spans:
            assert end - begin <= window and first >= begin + 1


@pytest.mark.parametrize("backend", ["native", "fast", "hf"])
def test_equals_the_guide_on_every_engine(tiny_model_folder, backend):
    from llm_playground import zoo

    text = ("It was the best of times, it was the worst of times, it was the age of wisdom. " * 6).strip()
    contestant = resolve_contestant(f"{tiny_model_folder}@{backend}")
    ids = zoo.load_tokenizer(tiny_model_folder).encode(text)
    assert len(ids) > 90
    result = perplexity(contestant, text, window=32, stride=12)
    true_ppl, guide_ppl = guide_perplexity(zoo.load_hf_model(tiny_model_folder), ids, 32, 12)
    assert result.tokens_scored == len(ids) - 1
    assert result.token_perplexity == pytest.approx(true_ppl, rel=1e-4)
    assert result.guide_perplexity == pytest.approx(guide_ppl, rel=1e-4)
    assert result.guide_perplexity != pytest.approx(true_ppl, rel=1e-7)  # the count rule matters
    assert result.bits_per_byte == pytest.approx(result.nll_sum / math.log(2) / result.bytes_scored)
    assert 0 < result.bytes_scored <= len(text.encode())


@pytest.mark.slow
def test_smollm2_window_512_stride_256_equals_the_guide():
    from llm_playground import zoo
    from llm_playground.assets.corpora import corpus_text

    text = corpus_text("shakespeare")[200_000:203_100]
    ids = zoo.load_tokenizer("smollm2-135m-instruct").encode(text)
    assert len(ids) > 1000
    result = perplexity(resolve_contestant("smollm2-135m-instruct@native"), text, window=512, stride=256)
    true_ppl, guide_ppl = guide_perplexity(zoo.load_hf_model("smollm2-135m-instruct"), ids, 512, 256)
    print(f"SmolLM2 on {len(ids)} tokens: ours {result.token_perplexity:.4f}, guide-loop (true count) {true_ppl:.4f}, "
          f"guide as printed {guide_ppl:.4f}, {result.bits_per_byte:.4f} bits/byte")
    assert result.windows == len(windows(len(ids), 512, 256)) >= 4
    assert result.token_perplexity == pytest.approx(true_ppl, rel=1e-4)
    assert result.guide_perplexity == pytest.approx(guide_ppl, rel=1e-4)
