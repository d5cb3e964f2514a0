"""`llmpg serve` under fuzzing (schemathesis against its own OpenAPI schema) and load (32 concurrent
streams, 100 clients that vanish mid-stream), on the tiny chat model: one server for the module."""
import asyncio
import time

import httpx
import openai
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from llm_playground.generation import GenerationConfig, Message, start_generation
from llm_playground.generation.api import collect
from llm_playground.serving.testing import run_server


@pytest.fixture(scope="module")
def server(tiny_chat_model):
    with run_server([f"tiny={tiny_chat_model}"]) as running:
        yield running
        assert running.alive(), running.log()[-2000:]


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.root_url}/openapi.json")


def test_fuzzed_requests_get_no_5xx_and_match_the_schema(api_schema, server):
    """Every operation of the server's own OpenAPI schema, with bodies hypothesis draws from it (most
    of them naming the served model, so that they reach generation)."""
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/chat/completions", "POST /v1/completions",
                                                "POST /v1/embeddings", "POST /v1/messages", "GET /v1/models"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            if isinstance(case.body, dict) and "model" in case.body and len(str(case.body)) % 4:
                case.body["model"] = "tiny"
            case.call_and_validate(base_url=server.root_url, checks=checks, timeout=120)

        check()


PROMPTS = ["Hello world", "The capital of France", "tokens and models", "Paris is"]


def test_32_concurrent_streams_all_complete_then_100_disconnects_free_their_slots(server, tiny_chat_model):
    expected = [collect(start_generation(tiny_chat_model, [Message("user", p)], GenerationConfig(max_new_tokens=16)))
                .text for p in PROMPTS]

    async def one(client, index):
        text, finish = "", None
        stream = await client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": PROMPTS[index % 4]}], max_tokens=16, temperature=0,
            stream=True)
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        return text, finish

    async def many():
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300) as client:
            return await asyncio.gather(*(one(client, i) for i in range(32)))

    results = asyncio.run(many())
    assert [text for text, _ in results] == [expected[i % 4] for i in range(32)]
    assert all(finish in ("stop", "length") for _, finish in results)
    assert health(server) == {"running": 0, "waiting": 0}
    before = server.rss()

    async def vanish(client, index):
        body = {"model": "tiny", "messages": [{"role": "user", "content": PROMPTS[index % 4]}], "max_tokens": 200,
                "stream": True}
        async with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content": ""' not in line:
                    return  # one token seen: leave mid-stream

    async def disconnects():
        async with httpx.AsyncClient(timeout=120) as client:
            for start in range(0, 100, 10):
                await asyncio.gather(*(vanish(client, i) for i in range(start, start + 10)))

    asyncio.run(disconnects())
    deadline = time.monotonic() + 10
    while health(server) != {"running": 0, "waiting": 0} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health(server) == {"running": 0, "waiting": 0}  # every vanished client's slot is free
    generated = metric(server, "llmpg_generation_tokens_total")
    assert generated < 32 * 16 + 100 * 50, generated  # the 100 did not run on to 200 tokens each
    time.sleep(1)
    after = server.rss()
    assert after <= before * 1.10, (before, after)
    assert server.alive()
    reply = httpx.post(f"{server.base_url}/completions", json={"model": "tiny", "prompt": "Hello", "max_tokens": 3},
                       timeout=60)
    assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 3


def health(server) -> dict:
    data = httpx.get(f"{server.root_url}/health", timeout=10).json()
    return {"running": data["running"], "waiting": data["waiting"]}


def metric(server, name: str) -> float:
    text = httpx.get(f"{server.root_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))
