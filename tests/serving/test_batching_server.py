"""`llmpg serve --backend fast` batches concurrent requests: each answer equals the library's own
(the same text alone), seeds hold, and a client that goes away frees its slot."""
import concurrent.futures
import re
import time

import openai
import pytest

from llm_playground.generation import GenerationConfig, start_generation
from llm_playground.generation.api import collect
from llm_playground.serving.testing import run_server

QUESTIONS = ["Hello", "The capital of France", "tokens and models", "Paris is", "world, tokens", "The models",
             "Hello world", "models! The"]


@pytest.fixture(scope="module")
def model(batching_model):
    return batching_model


@pytest.fixture(scope="module")
def client(model):
    with run_server([f"tiny={model}"], extra_args=["--backend", "fast"]) as server:
        yield openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=120), server


def test_concurrent_completions_each_equal_the_library_alone(model, client):
    api, server = client
    config = GenerationConfig(max_new_tokens=12)
    expected = {q: collect(start_generation(model, q, config, backend="fast", raw=True)).text for q in QUESTIONS}

    def ask(question):
        return api.completions.create(model="tiny", prompt=question, max_tokens=12, temperature=0).choices[0].text

    with concurrent.futures.ThreadPoolExecutor(len(QUESTIONS)) as pool:
        answers = dict(zip(QUESTIONS, pool.map(ask, QUESTIONS)))
    assert answers == expected
    seeded = [api.completions.create(model="tiny", prompt="Hello", max_tokens=10, temperature=1.0, seed=5,
                                     n=3).choices for _ in range(2)]
    assert [c.text for c in seeded[0]] == [c.text for c in seeded[1]]


def test_a_client_that_disconnects_frees_its_slot(client):
    api, server = client
    stream = api.completions.create(model="tiny", prompt="Hello", max_tokens=240, temperature=0, stream=True)
    next(iter(stream))
    stream.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = api._client.get(server.root_url + "/metrics").text
        running = re.search(r"^llmpg\S*running\S*\s+(\d+)", metrics, re.M)
        if running and running.group(1) == "0":
            break
        time.sleep(0.1)
    assert running and running.group(1) == "0", metrics


def test_ignore_eos_makes_exactly_max_tokens(client):
    api, server = client
    answer = api.completions.create(model="tiny", prompt="Hello", max_tokens=30, temperature=0,
                                    extra_body={"ignore_eos": True})
    assert answer.usage.completion_tokens == 30 and answer.choices[0].finish_reason == "length"
