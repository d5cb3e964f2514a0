"""Continuous batching: requests join and leave one batched decode step, each with its own settings,
and a request's output is the same alone and in a batch of 16."""
import threading
import time

import pytest
import torch

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, generate_steps
from llm_playground.generation.backends import FastBackend
from llm_playground.generation.cancel import GenerationStopped, StopSignal
from llm_playground.models.fast import FastDecoder, from_transformer
from llm_playground.models.loading import load_native
from llm_playground.serving.batching import BatchScheduler
from llm_playground.structured import Constraint

PROMPTS = ["The capital of France", "Hello world", "tokens and models", "Paris is", "The", "world, tokens",
           "Hello", "models! The capital", "of France is Paris.", "and", "capital", "France is Paris. Hello",
           "is", "world", "The models", "Hello tokens"]


@pytest.fixture(scope="module")
def parts(batching_model):
    weights = from_transformer(load_native(batching_model), "fp32")
    tokenizer = zoo.load_tokenizer(batching_model)
    return weights, tokenizer, zoo.eos_token_ids(batching_model)


@pytest.fixture
def scheduler(parts):
    weights, tokenizer, eos_ids = parts
    return BatchScheduler(weights, tokenizer, eos_ids=eos_ids, max_batch=16)


def encode(parts, text):
    return parts[1].encode(text, add_special_tokens=False)


def run_alone(scheduler, prompt_ids, config):
    return list(scheduler.submit(prompt_ids, config))


def run_together(scheduler, prompts, configs):
    """Submit every request at once; collect each one's steps from its own thread."""
    requests = [scheduler.submit(ids, config) for ids, config in zip(prompts, configs)]
    results = [None] * len(requests)

    def read(i):
        results[i] = list(requests[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_greedy_output_is_identical_alone_and_in_a_batch_of_16(parts, scheduler):
    prompts = [encode(parts, text) for text in PROMPTS]
    config = GenerationConfig(max_new_tokens=24, stop_at_eos=False, top_alternatives=3)
    alone = [run_alone(scheduler, ids, config) for ids in prompts]
    steps_before = scheduler.decode_steps
    together = run_together(scheduler, prompts, [config] * 16)
    assert (scheduler.decoded_rows and scheduler.decoded_rows / (scheduler.decode_steps - steps_before)) > 8
    for one, many in zip(alone, together):
        assert [s.id for s in many] == [s.id for s in one]
        assert [s.logprob for s in many] == [s.logprob for s in one]  # bit for bit: FastDecoder.decode is batch-invariant
        assert [s.text for s in many] == [s.text for s in one]
        assert [[a.id for a in s.top_before] for s in many] == [[a.id for a in s.top_before] for s in one]
    assert len({tuple(s.id for s in one) for one in alone}) > 8  # the prompts lead to different outputs
    # and the same tokens as the one generator over the fast backend, batch 1
    weights, tokenizer, eos_ids = parts
    plain = list(generate_steps(FastBackend(FastDecoder(weights)), tokenizer, prompts[0], config, eos_ids=eos_ids))
    assert [s.id for s in plain] == [s.id for s in alone[0]]
    assert [s.logprob for s in plain] == pytest.approx([s.logprob for s in alone[0]], abs=1e-4)


def test_each_request_keeps_its_own_settings_and_seed(parts, scheduler):
    prompt = encode(parts, "The capital of France")
    configs = [
        GenerationConfig(strategy="sample", seed=1, max_new_tokens=16, stop_at_eos=False),
        GenerationConfig(strategy="sample", seed=2, max_new_tokens=16, stop_at_eos=False, temperature=1.5),
        GenerationConfig(strategy="sample", seed=1, max_new_tokens=16, stop_at_eos=False, top_k=3,
                         frequency_penalty=0.5),
        GenerationConfig(max_new_tokens=16, stop_at_eos=False, repetition_penalty=1.3, no_repeat_ngram_size=2),
        GenerationConfig(max_new_tokens=16, constraint=Constraint("choices", ["Paris", "London", "Rome"])),
    ]
    alone = [run_alone(scheduler, prompt, config) for config in configs]
    together = run_together(scheduler, [prompt] * len(configs), configs)
    for one, many in zip(alone, together):
        assert [s.id for s in many] == [s.id for s in one]
    assert [s.id for s in run_alone(scheduler, prompt, configs[0])] == [s.id for s in alone[0]]  # seeded: reproducible
    assert [s.id for s in alone[0]] != [s.id for s in alone[1]]
    assert "".join(s.text for s in together[4]) in ("Paris", "London", "Rome")
    assert together[4][-1].finish_reason == "eos" and together[4][0].masked_mass is not None
    ids = [s.id for s in alone[3]]
    bigrams = list(zip(ids, ids[1:]))
    assert len(bigrams) == len(set(bigrams))  # no_repeat_ngram_size=2 held inside the batch


def test_stop_strings_end_one_request_and_the_others_go_on(parts, scheduler):
    prompt = encode(parts, "Hello world")
    free = GenerationConfig(max_new_tokens=20, stop_at_eos=False)
    text = "".join(s.text for s in run_alone(scheduler, prompt, free))
    stop = text[len(text) // 2:len(text) // 2 + 2]
    stopped, full = run_together(scheduler, [prompt, prompt], [free.replace(stop=[stop]), free])
    assert stopped[-1].finish_reason == "stop" and len(stopped) < 20
    assert "".join(s.text for s in stopped) == text[:text.find(stop)]
    assert "".join(s.text for s in full) == text and full[-1].finish_reason == "length"


def test_a_new_request_joins_without_waiting_and_a_short_one_leaves_first(parts, scheduler):
    long_config = GenerationConfig(max_new_tokens=120, stop_at_eos=False)
    long_prompt = encode(parts, "The capital of France")
    alone = [s.id for s in run_alone(scheduler, long_prompt, long_config)]
    long_request = scheduler.submit(long_prompt, long_config)
    seen, short_done_at = [], None
    for step in long_request:
        seen.append(step.id)
        if step.index == 10:
            short = list(scheduler.submit(encode(parts, "Hello"), GenerationConfig(max_new_tokens=5,
                                                                                   stop_at_eos=False)))
            short_done_at = len(seen)
    assert len(short) == 5 and short_done_at is not None
    assert short_done_at < 120  # it finished while the long one was still decoding
    assert seen == alone          # and the long one was not disturbed by a neighbour joining and leaving
    assert scheduler.live == 0


def test_cancelling_frees_the_slot_for_a_waiting_request(parts):
    weights, tokenizer, eos_ids = parts
    scheduler = BatchScheduler(weights, tokenizer, eos_ids=eos_ids, max_batch=1)
    config = GenerationConfig(max_new_tokens=200, stop_at_eos=False)
    first = scheduler.submit(encode(parts, "Hello"), config)
    steps = iter(first)
    next(steps)
    second = scheduler.submit(encode(parts, "world"), config.replace(max_new_tokens=3))
    time.sleep(0.05)
    assert scheduler.waiting == 1 and not second.finished.is_set()  # one slot, taken
    first.cancel("stopped by the test")
    assert len(list(second)) == 3
    with pytest.raises(GenerationStopped, match="stopped by the test"):
        list(steps)
    assert first.finished.is_set() and scheduler.live == 0


def test_closing_the_stream_stops_the_request(parts, scheduler):
    stream = iter(scheduler.generate(encode(parts, "Hello"), GenerationConfig(max_new_tokens=200,
                                                                              stop_at_eos=False)))
    next(stream)
    stream.close()
    deadline = time.monotonic() + 5
    while (scheduler.live or scheduler.waiting) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert scheduler.live == 0


def test_a_time_limit_and_a_failing_request_do_not_harm_the_others(parts, scheduler):
    prompt = encode(parts, "Hello world")
    config = GenerationConfig(max_new_tokens=30, stop_at_eos=False)
    expected = [s.id for s in run_alone(scheduler, prompt, config)]
    limited = scheduler.submit(prompt, config.replace(max_new_tokens=240), signal=StopSignal(time_limit=0.05))
    impossible = scheduler.submit(prompt, GenerationConfig(max_new_tokens=8, bad_words=["Paris", "London"],
                                                           constraint=Constraint("choices", ["Paris", "London"])))
    normal = [s.id for s in scheduler.submit(prompt, config)]
    with pytest.raises(GenerationStopped, match="time limit"):
        list(limited)
    with pytest.raises(PlaygroundError, match="no token satisfies"):
        list(impossible)
    assert normal == expected


def test_bad_requests_are_refused_before_they_queue(parts, scheduler):
    with pytest.raises(PlaygroundError, match="beam search"):
        scheduler.submit([1, 2], GenerationConfig(strategy="beam", num_beams=2))
    with pytest.raises(PlaygroundError, match="context window"):
        scheduler.submit([1] * 250, GenerationConfig(max_new_tokens=10))
    with pytest.raises(PlaygroundError, match="no tokens"):
        scheduler.submit([], GenerationConfig())
    with pytest.raises(PlaygroundError, match="max_batch"):
        BatchScheduler(parts[0], parts[1], max_batch=0)
    assert scheduler.waiting == 0


def test_start_generation_batches_fast_models_and_runs_others_alone(batching_model):
    from llm_playground.generation import collect, start_generation

    config = GenerationConfig(max_new_tokens=12, stop_at_eos=False)
    batched = start_generation(batching_model, "Hello", config, backend="fast", batching=True)
    plain = start_generation(batching_model, "Hello", config, backend="fast")
    native = start_generation(batching_model, "Hello", config, backend="native", batching=True)
    assert [s.id for s in collect(batched).steps] == [s.id for s in collect(plain).steps] \
        == [s.id for s in collect(native).steps]
    from llm_playground import store
    from llm_playground.serving.batching import scheduler_for

    assert scheduler_for(batching_model, "fast") is scheduler_for(batching_model, "fast")  # one per model
    assert any(row.engine == "batched" for row in store.models.held())
    with pytest.raises(PlaygroundError, match="fast engine"):
        scheduler_for(batching_model, "native")


def test_decode_is_batch_invariant_and_grow_keeps_the_cache(parts):
    weights = parts[0]
    decoder = FastDecoder(weights)
    decoder.reset(16, sequences=1)
    decoder.forward([5, 6, 7])
    alone = decoder.decode([0], [8])
    reference = FastDecoder(weights)
    reference.reset(64, sequences=1)
    reference.forward([5, 6, 7])
    torch.testing.assert_close(alone[0], reference.forward([8]), atol=1e-4, rtol=1e-4)
    decoder.positions[0] = 3
    decoder.grow(64, sequences=6)  # reallocates: sequence 0's positions survive
    assert decoder.positions == [3, 0, 0, 0, 0, 0]
    for slot in range(1, 6):
        decoder.forward([9, slot + 10, 11], sequence=slot)
    batch = decoder.decode([0, 1, 2, 3, 4, 5], [8, 1, 2, 3, 4, 5])
    assert torch.equal(batch[0], alone[0])
    with pytest.raises(PlaygroundError, match="each sequence once"):
        decoder.decode([1, 1], [1, 2])
    # a prompt joining (prefill) in the same pass as the decode tokens: the same bits as its own pass
    decoder.positions[1] = 0
    joined = decoder.decode_rows([9, 11, 12, 7, 7], [1, 1, 1, 2, 3])
    decoder.positions[1] = 0
    assert torch.equal(decoder.decode_rows([9, 11, 12], [1, 1, 1])[0], joined[0])
    with pytest.raises(PlaygroundError, match="consecutive"):
        decoder.decode_rows([1, 2, 3], [1, 2, 1])


def test_the_batching_engine_serves_the_engine_interface(batching_model):
    from llm_playground.serving.batching import BatchingEngine
    from llm_playground.serving.engine import EngineRequest

    spec = zoo.resolve(batching_model)
    tokenizer = zoo.load_tokenizer(spec)
    engine = BatchingEngine()
    config = GenerationConfig(max_new_tokens=10, stop_at_eos=False)

    def request(backend, text, **changes):
        return EngineRequest(spec, backend, tokenizer.encode(text, add_special_tokens=False),
                             config.replace(**changes), zoo.eos_token_ids(spec))

    fast = [s.id for s in engine.stream(request("fast", "Hello world"))]
    native = [s.id for s in engine.stream(request("native", "Hello world"))]
    assert fast == native and len(fast) == 10
    long_request = request("fast", "Hello", max_new_tokens=200)
    stream = engine.stream(long_request)
    next(stream)
    assert engine.running() == 1 and engine.queue_depth() == 0
    long_request.signal.stop("client went away")
    with pytest.raises(GenerationStopped):
        list(stream)
    assert engine.running() == 0


@pytest.mark.slow
def test_smollm2_greedy_output_is_identical_alone_and_in_a_batch_of_16():
    from llm_playground.generation import generate
    from llm_playground.generation.chat import Message, prepare_prompt
    from llm_playground.serving.batching import scheduler_for

    model = "smollm2-135m-instruct"
    scheduler = scheduler_for(model, "fast")
    questions = ["What is the capital of France?", "Name a primary colour.", "Say hello in Spanish.",
                 "What is 2 + 2?", "Give me a word that rhymes with cat.", "What do bees make?",
                 "Which planet is red?", "What is water made of?", "Name a fruit.", "What is the opposite of hot?",
                 "How many legs does a spider have?", "What colour is the sky?", "Name a musical instrument.",
                 "What do cows drink?", "Which animal barks?", "What is ice?"]
    prompts = [prepare_prompt(scheduler.tokenizer, [Message("user", q)], chat=True).ids for q in questions]
    config = GenerationConfig(max_new_tokens=16, top_alternatives=0)
    alone = [[s.id for s in scheduler.submit(ids, config)] for ids in prompts]
    together = run_together(scheduler, prompts, [config] * 16)
    assert [[s.id for s in steps] for steps in together] == alone
    plain = generate(model, [Message("user", questions[0])], config, backend="fast")
    assert [s.id for s in plain.steps] == alone[0]  # and what `llmpg generate --backend fast` writes


def test_a_request_that_would_pass_the_cache_budget_waits_for_the_others(parts):
    weights, tokenizer, eos_ids = parts
    scheduler = BatchScheduler(weights, tokenizer, eos_ids=eos_ids, max_batch=4, kv_budget_bytes=1)
    config = GenerationConfig(max_new_tokens=20, stop_at_eos=False)
    first, second = run_together(scheduler, [[5, 6], [7, 8]], [config, config])  # one at a time, both complete
    assert len(first) == len(second) == 20
    assert scheduler.decoded_rows == scheduler.decode_steps  # never two in one step
