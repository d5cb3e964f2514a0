"""`llmpg serve` driven by the official openai and anthropic clients, on the tiny chat model (one
server process for the module, on a free loopback port, with an API key)."""
import json
import math

import anthropic
import httpx
import jsonschema
import openai
import pytest

from llm_playground.generation import GenerationConfig, Message, start_generation
from llm_playground.generation.api import collect
from llm_playground.inspection.next_token import next_token_table
from llm_playground.serving.testing import run_server

KEY = "test-key-123"


CONTEXT = 2048


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_writer):
    """The tiny chat model with room for a prompt that lists tools (its byte-level vocabulary is small)."""
    return str(tiny_model_writer(tmp_path_factory.mktemp("api-model"), context=CONTEXT))


@pytest.fixture(scope="module")
def server(tiny):
    with run_server([f"tiny={tiny}"], api_key=KEY) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def library_completion(model, prompt, **config):
    return collect(start_generation(model, prompt, GenerationConfig(**config)))


HELLO = [{"role": "user", "content": "Hello world, tokens"}]


def test_models_lists_the_served_ids(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_greedy_chat_equals_the_library_token_for_token_with_usage_from_our_tokenizer(client, tiny):
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=20, temperature=0, logprobs=True)
    expected = library_completion(tiny, [Message("user", HELLO[0]["content"])], max_new_tokens=20)
    assert reply.choices[0].message.content == expected.text
    assert [t.token for t in reply.choices[0].logprobs.content] == [s.token for s in expected.steps]
    assert reply.usage.prompt_tokens == len(expected.prompt.ids)
    assert reply.usage.completion_tokens == len(expected.steps)
    assert reply.usage.total_tokens == len(expected.prompt.ids) + len(expected.steps)
    assert reply.choices[0].finish_reason == {"length": "length", "eos": "stop"}[expected.finish_reason]


def test_completion_logprobs_equal_the_next_token_table(client, tiny):
    prompt = "The capital of France is"
    reply = client.completions.create(model="tiny", prompt=prompt, max_tokens=1, temperature=0, logprobs=5)
    table = next_token_table(tiny, prompt, top_k=5, backend="auto")
    first = reply.choices[0].logprobs
    assert first.tokens[0] == table.rows[0].token
    assert first.token_logprobs[0] == pytest.approx(math.log(table.rows[0].prob), abs=1e-5)
    expected = {}
    for row in table.rows:  # the legacy shape is {token: logprob}: tokens that print alike share a key
        expected.setdefault(row.token, math.log(row.prob))
    assert list(first.top_logprobs[0]) == list(expected)
    assert list(first.top_logprobs[0].values()) == pytest.approx(list(expected.values()), abs=1e-5)
    assert reply.usage.prompt_tokens == len(table.prompt_ids)


def test_chat_top_logprobs_equal_the_next_token_table_of_the_templated_prompt(client, tiny):
    from llm_playground import zoo
    from llm_playground.generation.chat import prepare_prompt

    prepared = prepare_prompt(zoo.load_tokenizer(tiny), [Message("user", HELLO[0]["content"])], chat=True)
    table = next_token_table(tiny, prepared.text, top_k=10, backend="auto", allow_special=True)
    assert table.prompt_ids == prepared.ids
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=1, temperature=0, logprobs=True,
                                           top_logprobs=10)
    first = reply.choices[0].logprobs.content[0]
    assert [t.token for t in first.top_logprobs] == [row.token for row in table.rows]
    assert [t.logprob for t in first.top_logprobs] == pytest.approx([math.log(r.prob) for r in table.rows], abs=1e-5)
    assert first.token == table.rows[0].token


def test_chat_logprobs_have_openais_shape(client):
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=4, temperature=0, logprobs=True,
                                           top_logprobs=3)
    for entry in reply.choices[0].logprobs.content:
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token or "\ufffd" in entry.token
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob >= entry.top_logprobs[2].logprob
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-5)  # greedy: the top token


def test_streaming_with_include_usage_gives_the_same_text_and_a_usage_chunk(client):
    whole = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=16, temperature=0)
    chunks = list(client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=16, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == \
        [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump() | \
        {"completion_tokens_details": None, "prompt_tokens_details": None}
    assert all(c.usage is None for c in chunks[:-1])


def test_streamed_choices_and_logprobs_equal_the_whole_reply(client):
    ask = dict(model="tiny", messages=HELLO, max_tokens=8, temperature=0.8, n=2, seed=3, logprobs=True,
               top_logprobs=2)
    whole = client.chat.completions.create(**ask)
    chunks = list(client.chat.completions.create(**ask, stream=True))
    for choice in whole.choices:
        mine = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == choice.index]
        assert "".join(c.delta.content or "" for c in mine) == choice.message.content
        assert [t.token for c in mine if c.logprobs for t in c.logprobs.content] == \
            [t.token for t in choice.logprobs.content]
        assert [c.finish_reason for c in mine if c.finish_reason] == [choice.finish_reason]
    text = client.completions.create(model="tiny", prompt="Hello", max_tokens=8, temperature=0).choices[0].text
    streamed = client.completions.create(model="tiny", prompt="Hello", max_tokens=8, temperature=0, stream=True,
                                         stream_options={"include_usage": True})
    pieces = list(streamed)
    assert "".join(c.choices[0].text for c in pieces if c.choices) == text
    assert pieces[-1].usage.completion_tokens == 8


def test_raw_stream_ends_with_done(server):
    with httpx.stream("POST", f"{server.base_url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "tiny", "messages": HELLO, "max_tokens": 3, "stream": True}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


def test_n3_with_a_seed_is_reproducible_and_the_choices_differ(client):
    ask = dict(model="tiny", messages=HELLO, max_tokens=12, temperature=1.0, n=3, seed=7)
    first, second = client.chat.completions.create(**ask), client.chat.completions.create(**ask)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in second.choices]
    assert len(set(texts)) > 1
    other = client.chat.completions.create(**{**ask, "seed": 8})
    assert [c.message.content for c in other.choices] != texts


def test_stop_sequences_cut_the_text(client):
    prompt = "Hello world, tokens and models"
    full = client.completions.create(model="tiny", prompt=prompt, max_tokens=30, temperature=0).choices[0].text
    stop = full[10:13]
    assert stop.strip(), full
    cut = client.completions.create(model="tiny", prompt=prompt, max_tokens=30, temperature=0, stop=[stop, "zzzz"])
    assert cut.choices[0].text == full[:full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    one = client.completions.create(model="tiny", prompt=prompt, max_tokens=30, temperature=0, stop=stop)
    assert one.choices[0].text == cut.choices[0].text


SCHEMA = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0, "maximum": 120},
                                           "ok": {"type": "boolean"}},
          "required": ["age", "ok"], "additionalProperties": False}


def test_json_schema_output_validates(client):
    reply = client.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=150, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}})
    jsonschema.validate(json.loads(reply.choices[0].message.content), SCHEMA)
    anything = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=60, temperature=0,
                                              response_format={"type": "json_object"})
    if anything.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(anything.choices[0].message.content), dict)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]},
                                                   "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                   "required": ["city", "days"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}, "required": ["zone"],
    "additionalProperties": False}}}


def test_a_forced_tool_call_has_arguments_that_validate(client):
    reply = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=150, temperature=0,
                                           tools=[WEATHER, TIME],
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_required_tool_call_streams_its_name_then_argument_deltas(client):
    ask = dict(model="tiny", messages=HELLO, max_tokens=150, temperature=0, tools=[WEATHER, TIME],
               tool_choice="required")
    whole = client.chat.completions.create(**ask).choices[0].message.tool_calls[0]
    chunks = list(client.chat.completions.create(**ask, stream=True))
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == whole.function.name and deltas[0].id and deltas[0].function.arguments == ""
    assert all(d.function.name is None for d in deltas[1:]) and len(deltas) > 2
    assert "".join(d.function.arguments for d in deltas) == whole.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    tools = {"get_weather": WEATHER, "get_time": TIME}
    jsonschema.validate(json.loads(whole.function.arguments), tools[whole.function.name]["function"]["parameters"])


def test_tool_choice_none_and_auto(client):
    plain = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=8, temperature=0,
                                           tools=[WEATHER], tool_choice="none")
    assert plain.choices[0].message.tool_calls is None and plain.choices[0].message.content
    auto = client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=40, temperature=0,
                                          tools=[WEATHER], tool_choice="auto").choices[0]
    if auto.finish_reason == "tool_calls":  # the model chose to call: a valid call
        jsonschema.validate(json.loads(auto.message.tool_calls[0].function.arguments),
                            WEATHER["function"]["parameters"])
    elif auto.finish_reason == "stop":  # text: never the start of a call
        assert not auto.message.content.startswith("{")


def test_a_conversation_with_a_tool_result_is_accepted(client):
    messages = [{"role": "system", "content": "Be brief."}, *HELLO,
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 1}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=4, tools=[WEATHER])
    assert reply.usage.completion_tokens >= 1


# --- Anthropic ---

@pytest.fixture(scope="module")
def claude(server):
    return anthropic.Anthropic(base_url=server.root_url, api_key=KEY, max_retries=0, timeout=60)


def test_anthropic_messages_equal_the_library(claude, tiny):
    reply = claude.messages.create(model="tiny", max_tokens=16, system="Be brief.", extra_body={"temperature": 0},
                                   messages=[{"role": "user", "content": "Hello world, tokens"}])
    expected = library_completion(tiny, [Message("system", "Be brief."),
                                                    Message("user", "Hello world, tokens")], max_new_tokens=16)
    assert reply.type == "message" and reply.role == "assistant"
    assert reply.content[0].type == "text" and reply.content[0].text == expected.text
    assert reply.stop_reason == {"length": "max_tokens", "eos": "end_turn"}[expected.finish_reason]
    assert reply.usage.input_tokens == len(expected.prompt.ids) and reply.usage.output_tokens == len(expected.steps)


def test_anthropic_streaming_event_sequence(claude):
    ask = dict(model="tiny", max_tokens=16, extra_body={"temperature": 0}, messages=[{"role": "user", "content": "Hello world"}])
    whole = claude.messages.create(**ask)
    with claude.messages.stream(**ask) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events and "message_delta" in events
    assert final.content[0].text == whole.content[0].text
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens


def test_anthropic_stop_sequence_and_forced_tool_use(claude):
    ask = dict(model="tiny", max_tokens=30, extra_body={"temperature": 0}, messages=[{"role": "user", "content": "Hello world"}])
    text = claude.messages.create(**ask).content[0].text
    stop = text[8:11]
    cut = claude.messages.create(**ask, stop_sequences=[stop])
    assert cut.content[0].text == text[:text.index(stop)]
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == stop
    tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    used = claude.messages.create(**{**ask, "max_tokens": 150}, tools=[tool],
                                  tool_choice={"type": "tool", "name": "get_weather"})
    assert used.content[0].type == "tool_use" and used.content[0].name == "get_weather"
    jsonschema.validate(used.content[0].input, tool["input_schema"])
    assert used.stop_reason == "tool_use"
    with claude.messages.stream(**{**ask, "max_tokens": 150}, tools=[tool], tool_choice={"type": "any"}) as stream:
        events = [event for event in stream]
        final = stream.get_final_message()
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    assert final.content[0].type == "tool_use" and final.stop_reason == "tool_use"
    assert final.content[0].input == used.content[0].input  # greedy: the same call, streamed


# --- errors ---

def post(server, path, body, key=KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("change, param", [({"temperature": 5}, "temperature"), ({"top_p": 0}, "top_p"),
                                           ({"n": 0}, "n"), ({"max_tokens": 2.5}, "max_tokens"),
                                           ({"messages": []}, "messages"), ({"stop": ["a"] * 17}, "stop"),
                                           ({"top_logprobs": 30, "logprobs": True}, "top_logprobs"),
                                           ({"response_format": {"type": "json_schema", "json_schema": {
                                               "name": "x", "schema": {"type": "nonsense"}}}}, "response_format"),
                                           ({"tool_choice": {"type": "function", "function": {"name": "nope"}},
                                             "tools": [WEATHER]}, "tool_choice")])
def test_bad_parameters_are_400_naming_the_parameter(server, change, param):
    response = post(server, "/chat/completions", {"model": "tiny", "messages": HELLO, "max_tokens": 2, **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert "Traceback" not in response.text


def test_the_openai_client_raises_its_own_error_types(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-5", messages=HELLO)
    assert "tiny" in missing.value.message and missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=5000)
    assert too_long.value.code == "context_length_exceeded"
    assert str(CONTEXT) in too_long.value.message and "5000" in too_long.value.message
    wrong = openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_missing_and_wrong_keys_are_401_in_each_shape(server):
    for key in (None, "wrong"):
        response = post(server, "/chat/completions", {"model": "tiny", "messages": HELLO}, key=key)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
        response = httpx.post(f"{server.base_url}/messages", json={}, timeout=10,
                              headers={"x-api-key": key} if key else {})
        assert response.status_code == 401
        assert response.json() == {"type": "error", "error": {"type": "authentication_error",
                                                              "message": response.json()["error"]["message"]}}
    assert httpx.get(f"{server.root_url}/health", timeout=10).json()["status"] == "ok"  # no key needed


def test_anthropic_errors_have_anthropics_shape(claude):
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model="tiny", max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert "max_tokens" in bad.value.body["error"]["message"]


def test_metrics_are_prometheus_text(server, client):
    client.chat.completions.create(model="tiny", messages=HELLO, max_tokens=2)
    text = httpx.get(f"{server.root_url}/metrics", timeout=10).text
    for name in ("llmpg_requests_total", "llmpg_prompt_tokens_total", "llmpg_generation_tokens_total",
                 "llmpg_time_to_first_token_seconds_bucket", "llmpg_queue_depth", "llmpg_requests_running"):
        assert name in text
    assert 'llmpg_requests_total{endpoint="/v1/chat/completions",status="200"}' in text


def test_serve_refuses_a_network_address_without_a_key_and_says_why(capsys, monkeypatch):
    from llm_playground.cli import main

    monkeypatch.delenv("LLMPG_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("llmpg: error: refusing to listen on 0.0.0.0 without an API key")
    assert "--api-key" in error and "--allow-insecure-remote" in error and "Traceback" not in error
