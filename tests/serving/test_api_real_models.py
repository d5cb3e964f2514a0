"""`llmpg serve` with the real zoo models: the API's greedy text equals `llmpg generate`'s, its
logprobs equal `llmpg next-token`'s table, MiniLM embeddings, and a disconnect that stops a long
generation at once. One server for the module."""
import base64
import json
import subprocess
import sys
import time

import httpx
import numpy as np
import openai
import pytest

from llm_playground.serving.testing import run_server

pytestmark = pytest.mark.slow
CHAT = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def server():
    with run_server([CHAT, "minilm-l6"]) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300)


def llmpg(*args) -> dict:
    done = subprocess.run([sys.executable, "-m", "llm_playground", *args, "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_greedy_chat_equals_llmpg_generate_token_for_token(client):
    prompt = "What is the capital of France?"
    cli = llmpg("generate", "--model", CHAT, "--prompt", prompt, "--max-new-tokens", "24")
    reply = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": prompt}], max_tokens=24,
                                           temperature=0, logprobs=True)
    assert reply.choices[0].message.content == cli["text"]
    assert reply.usage.prompt_tokens == cli["prompt_tokens"]
    assert reply.usage.completion_tokens == cli["generated_tokens"]
    shown = cli["tokens"][:-1] if cli["finish_reason"] == "eos" else cli["tokens"]  # logprobs leave out <|im_end|>
    assert [t.logprob for t in reply.choices[0].logprobs.content] == pytest.approx([t["logprob"] for t in shown],
                                                                                  abs=1e-4)


def test_completion_logprobs_equal_llmpg_next_token(client):
    prompt = "Hello my name"
    table = llmpg("next-token", "--model", CHAT, "--prompt", prompt, "--top-k", "5")
    reply = client.completions.create(model=CHAT, prompt=prompt, max_tokens=1, temperature=0, logprobs=5)
    logprobs = reply.choices[0].logprobs
    assert logprobs.tokens == [table["rows"][0]["token"]]
    assert list(logprobs.top_logprobs[0]) == [row["token"] for row in table["rows"]]
    assert list(logprobs.top_logprobs[0].values()) == pytest.approx([np.log(r["prob"]) for r in table["rows"]],
                                                                   abs=1e-4)
    assert reply.usage.prompt_tokens == len(table["prompt_ids"])


def test_embeddings_rank_kitten_above_stocks_and_both_encodings_agree(client):
    texts = ["cat", "kitten", "stocks"]
    floats = client.embeddings.create(model="minilm-l6", input=texts)
    vectors = np.array([d.embedding for d in floats.data])
    assert vectors.shape == (3, 384)
    cosine = vectors @ vectors.T  # unit vectors
    assert cosine[0, 1] > cosine[0, 2]
    raw = httpx.post(f"{client.base_url}embeddings", json={"model": "minilm-l6", "input": texts,
                                                           "encoding_format": "base64"}, timeout=60).json()
    decoded = np.array([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in raw["data"]])
    np.testing.assert_allclose(decoded, vectors, atol=1e-6)
    single = client.embeddings.create(model="minilm-l6", input="cat")
    np.testing.assert_allclose(single.data[0].embedding, vectors[0], atol=1e-5)
    from llm_playground.embeddings.sentences import token_counts

    assert floats.usage.prompt_tokens == sum(token_counts(texts)) == floats.usage.total_tokens
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=CHAT, input="cat")


def test_a_client_that_disconnects_mid_stream_stops_its_generation_at_once(server):
    def generated() -> float:
        text = httpx.get(f"{server.root_url}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("llmpg_generation_tokens_total"))

    before = generated()
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
            "max_tokens": 400, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: {")
            if chunks == 4:
                break
    wait_until_idle(server)
    assert generated() - before < 4 + 8  # stopped within a step or two of the client leaving, not at 400


def test_a_client_that_gives_up_on_a_whole_reply_stops_its_generation(server):
    def generated() -> float:
        text = httpx.get(f"{server.root_url}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("llmpg_generation_tokens_total"))

    before = generated()
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
            "max_tokens": 400, "temperature": 0}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=httpx.Timeout(60, read=2.0))
    wait_until_idle(server)
    assert generated() - before < 150  # stopped soon after the client left (2 s), not at 400


def wait_until_idle(server, limit: float = 60.0) -> None:
    """Until no generation runs. The stop itself comes at the next model step; on a machine this busy a
    step (the prompt's prefill above all) can take seconds, so the proof is the token count, not the clock."""
    left = time.monotonic()
    while httpx.get(f"{server.root_url}/health", timeout=30).json()["running"] and time.monotonic() - left < limit:
        time.sleep(0.1)
    assert httpx.get(f"{server.root_url}/health", timeout=30).json()["running"] == 0
