"""n-gram models: hand-worked probabilities, a readable reference implementation, perplexity facts."""
import itertools
import math
from collections import Counter

import numpy as np
import pytest

from llm_playground.errors import PlaygroundError, UnknownNameError
from llm_playground.tokenizers import CharTokenizer
from llm_playground.training.ngram import (
    NGramModel, evaluate_orders, ngram_report, train_val_split, window_keys,
)

A, B, C = 0, 1, 2


# ---- hand-worked examples ------------------------------------------------------------------------

def test_add_k_by_hand():
    # corpus a b a b c: bigrams (a,b)×2, (b,a)×1, (b,c)×1; c(a)=2, c(b)=2 as contexts; V = 3
    model = NGramModel(2, "add-k", k=1.0).fit([A, B, A, B, C])
    assert model.vocab_size == 3
    assert math.exp(model.logprob([A], B)) == pytest.approx(3 / 5)   # (2 + 1) / (2 + 3)
    assert math.exp(model.logprob([A], A)) == pytest.approx(1 / 5)   # (0 + 1) / (2 + 3)
    assert math.exp(model.logprob([B], C)) == pytest.approx(2 / 5)   # (1 + 1) / (2 + 3)
    assert math.exp(model.logprob([C], A)) == pytest.approx(1 / 3)   # unseen context: (0 + 1) / (0 + 3)
    unigram = NGramModel(1, "add-k", k=1.0).fit([A, B, A, B, C])
    np.testing.assert_allclose(unigram.next_token_distribution(), [3 / 8, 3 / 8, 2 / 8])  # (c + 1) / (5 + 3)
    trigram = NGramModel(3, "add-k", k=0.5).fit([A, B, A, C, A, B])
    # (c, a) was followed once, by b: (1 + 0.5) / (1 + 0.5·3) = 0.6; a and c: 0.5 / 2.5
    np.testing.assert_allclose(trigram.next_token_distribution([C, A]), [0.2, 0.6, 0.2])


def test_interpolated_kneser_ney_by_hand():
    # corpus a b a c a b (V = 3), discount 0.75.
    #   trigrams (raw):          (a,b,a) (b,a,c) (a,c,a) (c,a,b)                 each once
    #   bigram continuation:     (a,b) ← {c}, (b,a) ← {a}, (a,c) ← {b}, (c,a) ← {a}  → 1 each
    #   unigram continuation:    a ← {b, c} = 2, b ← {a} = 1, c ← {a} = 1; total 4, 3 types
    # P1(a) = (2 − .75)/4 + .75·3/4·1/3 = 0.5;  P1(b) = P1(c) = .25/4 + .1875 = 0.25
    # P2(·|a): total 2 (b, c), 2 types:  P2(b|a) = .25/2 + .75·P1(b) = 0.3125 = P2(c|a);  P2(a|a) = .75·.5 = 0.375
    # P3(·|c a): total 1 (b), 1 type:   P3(b|c,a) = .25 + .75·0.3125 = 0.484375
    #                                   P3(a|c,a) = .75·0.375 = 0.28125;  P3(c|c,a) = .75·0.3125 = 0.234375
    model = NGramModel(3, "kneser-ney", discount=0.75).fit([A, B, A, C, A, B])
    np.testing.assert_allclose(model.next_token_distribution([C, A]), [0.28125, 0.484375, 0.234375])
    np.testing.assert_allclose(model.next_token_distribution([A]), [0.375, 0.3125, 0.3125])
    np.testing.assert_allclose(model.next_token_distribution([]), [0.5, 0.25, 0.25])
    # Unseen trigram context (b, b): back off wholly to P2(·|b): (b,a) only, total 1, 1 type
    # P2(a|b) = .25 + .75·.5 = 0.625;  P2(b|b) = P2(c|b) = .75·.25 = 0.1875
    np.testing.assert_allclose(model.next_token_distribution([B, B]), [0.625, 0.1875, 0.1875])
    assert model.logprob([A, C, A], B) == pytest.approx(math.log(0.484375))  # only the last 2 matter


# ---- a readable reference, written independently -------------------------------------------------

def reference_probability(corpus, vocab, order, smoothing, context, token, k=1.0, d=0.75):
    grams = {n: Counter(tuple(corpus[i:i + n]) for i in range(len(corpus) - n + 1)) for n in range(1, order + 1)}
    continuation = {n: Counter(g[1:] for g in grams[n + 1]) for n in range(1, order)}

    def counts(n):
        return grams[n] if smoothing == "add-k" or n == order else continuation[n]

    def p(n, history, w):  # history: the last n − 1 tokens
        if smoothing == "add-k":
            total = sum(counts(n)[history + (v,)] for v in range(vocab))
            return (counts(n)[history + (w,)] + k) / (total + k * vocab)
        lower = 1 / vocab if n == 1 else p(n - 1, history[1:], w)
        total = sum(counts(n)[history + (v,)] for v in range(vocab))
        if total == 0:
            return lower
        types = sum(1 for v in range(vocab) if counts(n)[history + (v,)] > 0)
        return max(counts(n)[history + (w,)] - d, 0) / total + d * types / total * lower

    n = min(len(context), order - 1) + 1
    return p(n, tuple(context[len(context) - (n - 1):]) if n > 1 else (), token)


@pytest.mark.parametrize("order, smoothing", list(itertools.product([1, 2, 3, 4], ["add-k", "kneser-ney"])))
def test_matches_the_reference_on_every_context(order, smoothing):
    rng = np.random.default_rng(order)
    vocab = 5
    corpus = rng.integers(0, vocab, 60).tolist() + [0, 1, 2, 0, 1, 2, 0, 1]
    model = NGramModel(order, smoothing, k=0.3, discount=0.6, vocab_size=vocab).fit(corpus)
    contexts = [[], [3], [0, 1], [4, 4, 4], [1, 2, 0, 1]]
    for context in contexts:
        expected = [reference_probability(corpus, vocab, order, smoothing, context, w, k=0.3, d=0.6)
                    for w in range(vocab)]
        np.testing.assert_allclose(model.next_token_distribution(context), expected, rtol=1e-12)
    # The vectorised scorer agrees with the one-context path at every position.
    held_out = rng.integers(0, vocab, 30)
    one_by_one = [model.logprob(held_out[max(0, i - order + 1):i], held_out[i]) for i in range(1, held_out.size)]
    np.testing.assert_allclose(model.target_logprobs(held_out), one_by_one, rtol=1e-12)


# ---- properties ----------------------------------------------------------------------------------

@pytest.mark.parametrize("smoothing", ["add-k", "kneser-ney"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_distributions_sum_to_one(order, smoothing):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 40, 3000)
    model = NGramModel(order, smoothing, k=0.01, vocab_size=50).fit(corpus)  # 10 ids never seen
    for context in ([], corpus[:1], corpus[100:104], [49, 48, 47, 46], [7] * 9):
        distribution = model.next_token_distribution(context)
        assert distribution.shape == (50,)
        assert distribution.sum() == pytest.approx(1.0, abs=1e-12)
        assert distribution.min() > 0  # smoothing leaves nothing impossible


@pytest.mark.parametrize("smoothing", ["add-k", "kneser-ney"])
def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(smoothing):
    vocab = 37
    model = NGramModel(1, smoothing).fit(np.random.default_rng(1).permutation(vocab))  # every id once
    np.testing.assert_allclose(model.next_token_distribution(), np.full(vocab, 1 / vocab))
    assert model.perplexity(np.random.default_rng(2).integers(0, vocab, 500)) == pytest.approx(vocab)


def test_bigram_beats_unigram_on_structured_text():
    tokenizer = CharTokenizer.fit("the cat sat on the mat. ")
    rng = np.random.default_rng(0)
    words = ["the cat", "sat on", "the mat", "the hat", "a cat", "on a mat"]
    text = " ".join(rng.choice(words, 3000)) + "."
    ids = np.array(tokenizer.encode(text))
    train, val = train_val_split(ids)
    results, _ = evaluate_orders(train, val, tokenizer.vocab_size, orders=(1, 2, 3))
    val_ppl = [r.val_perplexity for r in results]
    assert val_ppl[1] < 0.8 * val_ppl[0] and val_ppl[2] < val_ppl[1]
    assert all(r.train_loss > 0 for r in results)


def test_cross_entropy_is_the_mean_negative_log_probability():
    model = NGramModel(2, "kneser-ney").fit([A, B, A, C, A, B])
    ids = [A, B, C, A]
    expected = -np.mean([model.logprob([A], B), model.logprob([B], C), model.logprob([C], A)])
    assert model.cross_entropy(ids) == pytest.approx(expected)
    assert model.perplexity(ids) == pytest.approx(math.exp(expected))


def test_sampling_is_seeded_and_follows_the_distribution():
    model = NGramModel(1, "add-k", k=1.0).fit([0] * 60 + [1] * 30 + [2] * 10)
    first = model.sample([], 4000, 7)
    assert first == model.sample([], 4000, np.random.default_rng(7))
    assert first != model.sample([], 4000, 8)
    frequencies = np.bincount(first, minlength=3) / 4000
    np.testing.assert_allclose(frequencies, model.next_token_distribution(), atol=0.03)
    bigram = NGramModel(2, "kneser-ney").fit([A, B, C] * 50)
    assert bigram.sample([A], 5, 0) == [B, C, A, B, C]  # p(next | prev) ≈ 0.99 here


def test_window_keys():
    assert window_keys(np.array([1, 2, 0, 1]), 3, 3).tolist() == [1 * 9 + 2 * 3 + 0, 2 * 9 + 0 + 1]
    assert window_keys(np.array([1]), 2, 3).size == 0


def test_user_errors():
    with pytest.raises(PlaygroundError, match="order"):
        NGramModel(0)
    with pytest.raises(UnknownNameError, match="kneser-ney"):
        NGramModel(2, "good-turing")
    with pytest.raises(PlaygroundError, match="k > 0"):
        NGramModel(2, "add-k", k=0)
    with pytest.raises(PlaygroundError, match="discount"):
        NGramModel(2, discount=1.5)
    with pytest.raises(PlaygroundError, match="fit"):
        NGramModel(2).perplexity([0, 1, 2])
    model = NGramModel(2).fit([0, 1, 2])
    with pytest.raises(PlaygroundError, match="outside the vocabulary"):
        model.perplexity([0, 1, 7])
    with pytest.raises(PlaygroundError, match="at least 2"):
        model.perplexity([0])
    with pytest.raises(PlaygroundError, match="too large"):
        NGramModel(5).fit([0, 1], vocab_size=100_000)
    with pytest.raises(PlaygroundError, match="integer"):
        NGramModel(2).fit([0.5, 1.5])


def test_report_on_a_small_text():
    text = "to be or not to be, that is the question. " * 40
    tokenizer = CharTokenizer.fit(text)
    report = ngram_report(text, encode=tokenizer.encode, decode=tokenizer.decode, vocab_size=tokenizer.vocab_size,
                          tokenizer_name="char", max_order=3, prompt="to ", sample_tokens=40)
    assert [e.order for e in report.evaluations] == [1, 2, 3]
    assert report.train_tokens + report.val_tokens == len(text)
    assert report.sample.startswith("to ") and len(report.sample) == 43
    assert report.evaluations[2].val_perplexity < report.evaluations[0].val_perplexity
    assert "val ppl" in report.table() and report.to_dict()["evaluations"][0]["order"] == 1


def test_report_explains_its_best_model_against_the_lower_orders():
    text = "abcabd " * 200
    tokenizer = CharTokenizer.fit(text)
    report = ngram_report(text, encode=tokenizer.encode, decode=tokenizer.decode, vocab_size=tokenizer.vocab_size,
                          max_order=2, sample_tokens=5)
    explanation = report.explanation()
    assert explanation.loss == report.evaluations[1].val_loss
    assert explanation.tokens == report.val_tokens - 1 and explanation.vocab_size == tokenizer.vocab_size
    assert explanation.baselines == {"order 1 (kneser-ney)": report.evaluations[0].val_loss}
