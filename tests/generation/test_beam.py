"""Beam search: a hand-worked example, stopping rules, the step-function protocol, and equality
with transformers' beam search (sequences and sequences_scores to 1e-4)."""
import math

import pytest
import torch

from llm_playground.generation.beam import (
    BeamHypothesis,
    beam_search,
    hf_model_step_fn,
    recompute_step_fn,
    stop_string_fn,
)
from llm_playground.generation.config import GenerationConfig
from llm_playground.sampling.builder import build_processors
from llm_playground.sampling.processors import ProcessorPipeline

EOS, A, B, C = 0, 1, 2, 3


def markov_step_fn(table: dict[int, list[float]]):
    """A toy 'model' whose next-token probabilities depend only on the last token."""
    def forward(ids):  # (B, T) -> (B, T, V)
        return torch.tensor([[table[t] for t in row] for row in ids.tolist()]).log()
    return recompute_step_fn(forward)


# After the prompt (token C): greedy takes A (0.5), but B is followed by EOS far more often.
TABLE = {
    C: [0.1, 0.5, 0.4, 0.0],
    A: [0.4, 0.2, 0.2, 0.2],
    B: [0.9, 0.05, 0.05, 0.0],
}


def test_hand_worked_example_beats_greedy():
    config = GenerationConfig(strategy="beam", num_beams=2, num_return_sequences=2, max_new_tokens=5)
    best, second = beam_search(markov_step_fn(TABLE), [C], config, eos_ids=[EOS])
    # step 1 candidates: A (.5), B (.4); step 2 ends B EOS (.36) and A EOS (.2); both leave the pool
    # full, and no running beam (at most .5 * .2 = .1 at length 2) can beat log(.2) / 2.
    assert best == BeamHypothesis([B, EOS], pytest.approx(math.log(0.36) / 2), pytest.approx(math.log(0.36)), "eos")
    assert second.token_ids == [A, EOS] and second.score == pytest.approx(math.log(0.2) / 2)


def test_the_prompt_ending_on_eos_with_one_token_finishes_at_once():
    config = GenerationConfig(strategy="beam", num_beams=2, max_new_tokens=5, early_stopping=True)
    table = {C: [0.7, 0.3, 0.0, 0.0], A: [0.5, 0.5, 0.0, 0.0]}
    [best] = beam_search(markov_step_fn(table), [C], config, eos_ids=[EOS])
    assert best.token_ids == [EOS] and best.score == pytest.approx(math.log(0.7))


def test_length_penalty_changes_the_ranking():
    # [A, EOS] has log-prob log(.5 * .4) = -1.61 over 2 tokens; [EOS] has log(.1) = -2.30 over 1.
    config = GenerationConfig(strategy="beam", num_beams=2, num_return_sequences=2, max_new_tokens=3)
    table = {C: [0.1, 0.5, 0.4, 0.0], A: [0.4, 0.2, 0.2, 0.2], B: [0.3, 0.3, 0.2, 0.2]}
    ranked = lambda lp: [h.token_ids for h in beam_search(markov_step_fn(table), [C],
                                                           config.replace(length_penalty=lp), eos_ids=[EOS])]
    assert ranked(1.0)[0] == [A, EOS]
    scores = {tuple(h.token_ids): h.score for h in beam_search(markov_step_fn(table), [C],
                                                               config.replace(length_penalty=2.0), eos_ids=[EOS])}
    for ids, score in scores.items():  # every returned score is sum / length ** 2
        assert score == pytest.approx(sum(math.log(p) for p in _path_probs(table, [C, *ids])) / len(ids) ** 2)


def _path_probs(table, ids):
    return [table[prev][nxt] for prev, nxt in zip(ids, ids[1:])]


def test_max_new_tokens_ends_every_beam_with_reason_length():
    config = GenerationConfig(strategy="beam", num_beams=3, num_return_sequences=3, max_new_tokens=4)
    table = {t: [0.0, 0.5, 0.3, 0.2] for t in (A, B, C)}  # EOS impossible
    hypotheses = beam_search(markov_step_fn(table), [C], config, eos_ids=[EOS])
    assert [h.finish_reason for h in hypotheses] == ["length"] * 3
    assert all(len(h.token_ids) == 4 for h in hypotheses)
    assert hypotheses[0].token_ids == [A, A, A, A]
    assert [h.score for h in hypotheses] == sorted([h.score for h in hypotheses], reverse=True)


def test_stop_at_eos_false_never_ends_on_eos():
    config = GenerationConfig(strategy="beam", num_beams=2, max_new_tokens=3, stop_at_eos=False)
    [best] = beam_search(markov_step_fn({**TABLE, EOS: [0.9, 0.1, 0.0, 0.0]}), [C], config, eos_ids=[EOS])
    assert best.finish_reason == "length" and len(best.token_ids) == 3


def test_stop_fn_ends_a_candidate_like_eos():
    config = GenerationConfig(strategy="beam", num_beams=2, num_return_sequences=2, max_new_tokens=6,
                              length_penalty=0.0)  # rank by the plain sum of log-probs
    table = {C: [0.0, 0.6, 0.3, 0.1], A: [0.0, 0.5, 0.4, 0.1], B: [0.0, 0.3, 0.3, 0.4]}
    letters = {A: "a", B: "b", C: "c", EOS: ""}
    stop = stop_string_fn(lambda ids: "".join(letters[t] for t in ids), ["ab"])
    hypotheses = beam_search(markov_step_fn(table), [C], config, eos_ids=[EOS], stop_fn=stop)
    # step 2 ranks AA (.30) and AB (.24) first; "ab" ends AB, and nothing later beats .24
    assert hypotheses[0] == BeamHypothesis([A, B], pytest.approx(math.log(0.24)), pytest.approx(math.log(0.24)), "stop")
    assert "ab" in "".join(letters[t] for t in hypotheses[1].token_ids)
    assert stop_string_fn(str, []) is None


def test_processors_apply_to_every_beam():
    config = GenerationConfig(strategy="beam", num_beams=2, max_new_tokens=4, no_repeat_ngram_size=1)
    table = {t: [0.01, 0.6, 0.3, 0.09] for t in (A, B, C)}
    [best] = beam_search(markov_step_fn(table), [C], config, eos_ids=[EOS])
    assert len(set(best.token_ids)) == len(best.token_ids)  # no token twice (C is in the prompt)
    assert C not in best.token_ids


def test_bad_early_stopping_value_is_refused():
    from llm_playground.errors import PlaygroundError
    with pytest.raises(PlaygroundError, match="early_stopping"):
        beam_search(markov_step_fn(TABLE), [C], GenerationConfig(strategy="beam", num_beams=2),
                    early_stopping="sometimes")


# --- equality with transformers on a tiny random Llama --------------------------------------------

VOCAB = 48
TINY_EOS = 3


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=TINY_EOS, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # sharpen the random logits, so that beams differ and EOS comes up often
        model.lm_head.weight.mul_(8.0)
        model.lm_head.weight[TINY_EOS].mul_(1.6)
    return model


def transformers_beams(model, prompt, config: GenerationConfig, early_stopping, eos_ids):
    out = model.generate(
        torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
        do_sample=False, num_beams=config.num_beams, length_penalty=config.length_penalty,
        early_stopping=early_stopping, num_return_sequences=config.num_return_sequences,
        max_new_tokens=config.max_new_tokens, eos_token_id=eos_ids, pad_token_id=0,
        repetition_penalty=config.repetition_penalty, no_repeat_ngram_size=config.no_repeat_ngram_size,
        output_scores=True, return_dict_in_generate=True,
    )
    return out.sequences[:, len(prompt):].tolist(), out.sequences_scores.tolist()


def assert_same_as_transformers(ours: list[BeamHypothesis], theirs, pad=TINY_EOS):
    """transformers pads shorter beams with pad_token_id, or with the first EOS id when pad_token_id is 0."""
    sequences, scores = theirs
    width = len(sequences[0])
    assert [h.token_ids + [pad] * (width - len(h.token_ids)) for h in ours] == sequences
    torch.testing.assert_close(torch.tensor([h.score for h in ours]), torch.tensor(scores), atol=1e-4, rtol=0)


CASES = [  # num_beams, num_return_sequences, length_penalty, early_stopping, max_new_tokens, extra
    (2, 1, 1.0, False, 8, {}),
    (3, 3, 1.0, True, 10, {}),
    (4, 2, 0.5, False, 12, {}),
    (4, 4, 2.0, "never", 10, {}),
    (3, 2, -1.0, False, 10, {}),
    (3, 2, 1.0, "never", 8, {"repetition_penalty": 1.5}),
    (4, 3, 1.0, True, 10, {"no_repeat_ngram_size": 2}),
]


@pytest.mark.parametrize("num_beams, returned, length_penalty, early_stopping, max_new_tokens, extra", CASES)
def test_equal_to_transformers_beam_search_on_a_tiny_llama(tiny_llama, num_beams, returned, length_penalty,
                                                          early_stopping, max_new_tokens, extra):
    config = GenerationConfig(strategy="beam", num_beams=num_beams, num_return_sequences=returned,
                              length_penalty=length_penalty, early_stopping=early_stopping is True,
                              max_new_tokens=max_new_tokens, **extra)
    reasons = set()
    for prompt in ([1, 5, 9, 20], [1, 44], [1, 7, 7, 30, 12, 2, 8]):
        ours = beam_search(hf_model_step_fn(tiny_llama), prompt, config, eos_ids=[TINY_EOS],
                           early_stopping=early_stopping)
        assert_same_as_transformers(ours, transformers_beams(tiny_llama, prompt, config, early_stopping, [TINY_EOS]))
        reasons |= {h.finish_reason for h in ours}
    assert "eos" in reasons  # the comparison covers beams that end on EOS


@pytest.mark.parametrize("num_beams, length_penalty, prompt, differing", [
    (2, 2.0, [1, 41, 22], [(True, False), (False, "never")]),
    (4, 1.0, [1, 45], [(True, False)]),
    (2, 1.0, [1, 7], [(False, "never")]),
])
def test_each_early_stopping_mode_equals_transformers_where_they_differ(tiny_llama, num_beams, length_penalty,
                                                                       prompt, differing):
    config = GenerationConfig(strategy="beam", num_beams=num_beams, num_return_sequences=num_beams,
                              length_penalty=length_penalty, max_new_tokens=10)
    results = {}
    for mode in (True, False, "never"):
        results[mode] = beam_search(hf_model_step_fn(tiny_llama), prompt, config, eos_ids=[TINY_EOS],
                                    early_stopping=mode)
        assert_same_as_transformers(results[mode], transformers_beams(tiny_llama, prompt, config, mode, [TINY_EOS]))
    for a, b in differing:  # these prompts were picked because the modes give different beams
        assert results[a] != results[b]


def test_two_eos_tokens_equal_transformers(tiny_llama):
    config = GenerationConfig(strategy="beam", num_beams=3, num_return_sequences=3, max_new_tokens=10)
    prompt = [1, 5, 9, 20]
    ours = beam_search(hf_model_step_fn(tiny_llama), prompt, config, eos_ids=[TINY_EOS, 10])
    assert_same_as_transformers(ours, transformers_beams(tiny_llama, prompt, config, False, [TINY_EOS, 10]))


def test_cached_and_recomputing_step_functions_agree(tiny_llama):
    """The cache-reorder protocol: the cached step function reorders the same rows that the
    recomputing one re-gathers."""
    config = GenerationConfig(strategy="beam", num_beams=4, num_return_sequences=4, max_new_tokens=8,
                              early_stopping=True)
    prompt = [1, 7, 7, 30]
    cached = beam_search(hf_model_step_fn(tiny_llama), prompt, config, eos_ids=[TINY_EOS])
    recomputed = beam_search(recompute_step_fn(lambda ids: tiny_llama(ids).logits), prompt, config,
                             eos_ids=[TINY_EOS])
    assert [h.token_ids for h in cached] == [h.token_ids for h in recomputed]
    torch.testing.assert_close(torch.tensor([h.score for h in cached]), torch.tensor([h.score for h in recomputed]),
                               atol=1e-5, rtol=0)


def test_default_processors_come_from_the_config(tiny_llama):
    config = GenerationConfig(strategy="beam", num_beams=2, max_new_tokens=12, no_repeat_ngram_size=1)
    prompt = [1, 5]
    default = beam_search(hf_model_step_fn(tiny_llama), prompt, config)  # no EOS: 12 tokens each
    explicit = beam_search(hf_model_step_fn(tiny_llama), prompt, config, processors=build_processors(config))
    unprocessed = beam_search(hf_model_step_fn(tiny_llama), prompt, config, processors=ProcessorPipeline())
    assert default == explicit
    assert len(set(default[0].token_ids + prompt)) == 12 + 2  # no token twice
    assert len(set(unprocessed[0].token_ids + prompt)) < 12 + 2


# --- equality with transformers on SmolLM2 ----------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    from llm_playground.zoo import load_hf_model, load_tokenizer
    return load_hf_model("smollm2-135m-instruct"), load_tokenizer("smollm2-135m-instruct")


@pytest.mark.slow
@pytest.mark.parametrize("prompt, num_beams, returned, length_penalty, early_stopping", [
    ("The capital of France is", 3, 2, 1.0, False),
    ([{"role": "user", "content": "What is 2 + 2? Answer with one number."}], 4, 3, 0.8, True),
    ("Once upon a time", 2, 2, 1.0, "never"),
])
def test_equal_to_transformers_beam_search_on_smollm2(smollm2, prompt, num_beams, returned, length_penalty,
                                                      early_stopping):
    model, tokenizer = smollm2
    eos = tokenizer.eos_token_id
    chat = isinstance(prompt, list)
    prompt = list(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
                  if chat else tokenizer.encode(prompt))
    config = GenerationConfig(strategy="beam", num_beams=num_beams, num_return_sequences=returned,
                              length_penalty=length_penalty, early_stopping=early_stopping is True,
                              max_new_tokens=8)
    ours = beam_search(hf_model_step_fn(model), prompt, config, eos_ids=[eos], early_stopping=early_stopping)
    out = model.generate(
        torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long), do_sample=False,
        num_beams=num_beams, num_return_sequences=returned, length_penalty=length_penalty,
        early_stopping=early_stopping, max_new_tokens=8, eos_token_id=eos, pad_token_id=eos,
        output_scores=True, return_dict_in_generate=True,
    )
    assert_same_as_transformers(ours, (out.sequences[:, len(prompt):].tolist(), out.sequences_scores.tolist()),
                                pad=eos)
    # the chat answer ends on <|im_end|>; the completions run to the limit
    assert ours[0].finish_reason == ("eos" if chat else "length")
