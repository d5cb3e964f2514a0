"""Stopping a generation: a StopSignal ends token-by-token generation and beam search within one
model step; a GenerationWorker stops when its reader closes it, stops reading, or runs out of time."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, generate_steps, start_generation
from llm_playground.generation.backends import NativeBackend
from llm_playground.generation.cancel import GenerationStopped, StopSignal
from llm_playground.generation.worker import GenerationWorker, Progress
from llm_playground.models import from_hf_model


class CountingBackend(NativeBackend):
    """The readable engine, counting model calls (prefill and steps) and beam steps."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.calls = 0

    def start(self, prompt_ids, max_new_tokens):
        self.calls += 1
        return super().start(prompt_ids, max_new_tokens)

    def step(self, token_id):
        self.calls += 1
        return super().step(token_id)

    def beam_step_fn(self, num_beams, max_length):
        inner = super().beam_step_fn(num_beams, max_length)

        def step(new_ids, parent_rows):
            self.calls += 1
            return inner(new_ids, parent_rows)

        return step


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    return from_hf_model(LlamaForCausalLM(config).eval()).eval()


class Chars:
    """A stand-in tokenizer: id i is the character chr(65 + i % 26)."""

    eos_token_id = None

    def decode(self, ids, **_):
        return "".join(chr(65 + i % 26) for i in ids)


def test_a_stopped_signal_ends_generation_before_the_next_model_call(tiny):
    signal = StopSignal()
    backend = CountingBackend(tiny)
    steps = generate_steps(backend, Chars(), [1, 2, 3], GenerationConfig(max_new_tokens=50, stop_at_eos=False),
                           eos_ids=set(), signal=signal)
    for index, _ in enumerate(steps):
        if index == 4:
            signal.stop("stopped by the test")
            break
    calls = backend.calls
    with pytest.raises(GenerationStopped, match="stopped by the test"):
        next(steps)
    assert backend.calls == calls  # no model call after the stop


def test_beam_search_stops_at_its_next_step(tiny):
    from llm_playground.generation.generator import beam_steps

    signal = StopSignal()
    backend = CountingBackend(tiny)
    seen = []

    def on_step(done):
        seen.append(done)
        if done == 3:
            signal.stop("stop after three beam steps")

    config = GenerationConfig(strategy="beam", num_beams=8, max_new_tokens=100, stop_at_eos=False)
    with pytest.raises(GenerationStopped, match="three beam steps"):
        list(beam_steps(backend, Chars(), [1, 2, 3], config, eos_ids=set(), signal=signal, on_step=on_step))
    assert seen == [1, 2, 3] and backend.calls == 3


def test_the_time_limit_stops_a_generation():
    signal = StopSignal(time_limit=0.05)
    assert not signal.stopped
    time.sleep(0.08)
    assert signal.stopped and "0.05 s time limit" in signal.reason
    with pytest.raises(GenerationStopped):
        signal.check()
    with pytest.raises(PlaygroundError, match="time_limit must be more than 0"):
        StopSignal(time_limit=0)


def worker_over(tiny, config: GenerationConfig, **options):
    """A worker running the readable engine on the tiny model, with a slow step (like a big beam)."""
    backend = CountingBackend(tiny)

    class Run:
        steps = None

    def start(signal, on_beam_step):
        from llm_playground.generation.generator import beam_steps

        run = Run()
        if config.strategy == "beam":
            run.steps = beam_steps(backend, Chars(), [1, 2, 3], config, eos_ids=set(), signal=signal,
                                   on_step=lambda n: (time.sleep(0.05), on_beam_step(n)))
        else:
            run.steps = generate_steps(backend, Chars(), [1, 2, 3], config, eos_ids=set(), signal=signal)
        return run

    return GenerationWorker(start, **options), backend


def test_closing_the_updates_stops_a_beam_search_within_a_step(tiny):
    config = GenerationConfig(strategy="beam", num_beams=16, max_new_tokens=400, stop_at_eos=False)
    worker, backend = worker_over(tiny, config, tick=0.02)
    updates = worker.updates()
    progress = [update for _, update in zip(range(5), updates)]
    assert all(isinstance(update, Progress) for update in progress)
    updates.close()  # what a server does when the page presses Stop or the tab closes
    closed_at = time.monotonic()
    assert worker.join(timeout=5)
    assert time.monotonic() - closed_at < 1.0
    assert worker.signal.stopped and 0 < backend.calls < 400


def test_a_reader_that_goes_away_without_closing_stops_the_work(tiny):
    config = GenerationConfig(strategy="beam", num_beams=16, max_new_tokens=400, stop_at_eos=False)
    worker, _ = worker_over(tiny, config, tick=0.02, abandon_after=0.3)
    updates = worker.updates()
    next(updates)  # then never asks again, and never closes it
    assert worker.join(timeout=5) and "nobody is reading" in worker.signal.reason
    updates.close()


def test_a_worker_hands_over_every_step_and_the_time_limit(tiny):
    worker, _ = worker_over(tiny, GenerationConfig(max_new_tokens=12, stop_at_eos=False))
    steps = [update for update in worker.updates() if not isinstance(update, Progress)]
    assert [step.index for step in steps] == list(range(12)) and steps[-1].finish_reason == "length"
    config = GenerationConfig(strategy="beam", num_beams=16, max_new_tokens=400, stop_at_eos=False)
    worker, _ = worker_over(tiny, config, time_limit=0.3, tick=0.02)
    with pytest.raises(GenerationStopped, match="time limit of one request"):
        list(worker.updates())


def test_errors_before_generation_reach_the_reader():
    def start(signal, on_beam_step):
        raise PlaygroundError("the prompt is empty; type some text to start from")

    with pytest.raises(PlaygroundError, match="the prompt is empty"):
        list(GenerationWorker(start).updates())


def test_start_generation_threads_the_signal_through(tiny_chat_model):
    signal = StopSignal()
    run = start_generation(tiny_chat_model, "Hello", GenerationConfig(max_new_tokens=30, stop_at_eos=False),
                           signal=signal, backend="native")
    first = next(run.steps)
    assert first.index == 0
    threading.Timer(0, lambda: signal.stop("stop now")).run()
    with pytest.raises(GenerationStopped, match="stop now"):
        list(run.steps)
