"""Remote backends against real servers on 127.0.0.1 only:

- our own `llmpg serve` (a real process, with an API key) over a tiny local model: the remote
  greedy answer equals the local one, token for token, with the same log-probabilities, through
  the OpenAI chat and completions endpoints and Anthropic's messages endpoint;
- a small OpenAI-shaped server in this file that streams without logprobs (as Ollama and older
  llama-server builds do), or refuses them with a 400 (as some hosted models do);
- a closed port, and a port that accepts but never answers.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llm_playground.cli import main
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, collect, start_generation
from llm_playground.generation.cancel import GenerationStopped, StopSignal
from llm_playground.structured import Constraint

KEY = "sk-test-Zq8vN3kP-never-shown"
CONFIG = GenerationConfig(max_new_tokens=10)


# --- servers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_folder(tiny_model_writer, tmp_path_factory):
    """A tiny chat model whose greedy answer is varied text (larger random weights)."""
    return str(tiny_model_writer(tmp_path_factory.mktemp("remote-tiny"), seed=3, init_std=0.3))


@pytest.fixture(scope="module")
def served(tiny_folder):
    """`llmpg serve` with the tiny model as "tiny", requiring KEY."""
    from llm_playground.serving.testing import run_server

    with run_server([f"tiny={tiny_folder}"], api_key=KEY) as server:
        yield server


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


class _NoLogprobsHandler(BaseHTTPRequestHandler):
    """/v1/chat/completions in OpenAI's streaming shape, never with logprobs."""

    pieces = ["Hel", "lo", " there", "!"]

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if self.server.refuse_logprobs and body.get("logprobs"):
            payload = json.dumps({"error": {"message": "logprobs is not supported with this model",
                                            "type": "invalid_request_error", "param": "logprobs", "code": None}})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                   for piece in self.pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**base, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5,
                                                        "total_tokens": 12}})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@contextlib.contextmanager
def plain_server(*, refuse_logprobs: bool = False):
    """The no-logprobs server on a free port of 127.0.0.1, stopped when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoLogprobsHandler)
    server.refuse_logprobs, server.requests = refuse_logprobs, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the same answer as the local model ----------------------------------------------------------

def test_openai_chat_greedy_equals_the_local_model_token_for_token(served, key, tiny_folder):
    local = collect(start_generation(tiny_folder, "Hello there", CONFIG))
    remote = collect(start_generation(f"openai@{served.base_url}:tiny", "Hello there", CONFIG))
    assert remote.text == local.text and len(local.text.strip()) > 0
    assert [s.token for s in remote.steps] == [s.token for s in local.steps]
    for ours, theirs in zip(local.steps, remote.steps):
        assert theirs.has_logprob and math.isclose(theirs.logprob, ours.raw_logprob, abs_tol=1e-4)
        assert [a.text for a in theirs.top_before] == [a.text for a in ours.top_before]
    assert remote.finish_reason == local.finish_reason == "length"
    assert remote.probability_note == ""
    assert remote.remote.usage == {"prompt_tokens": len(local.prompt.ids), "completion_tokens": 10}


def test_completions_endpoint_for_raw_text_equals_the_local_model(served, key, tiny_folder):
    local = collect(start_generation(tiny_folder, "The capital", CONFIG, raw=True))
    remote = collect(start_generation(f"openai@{served.base_url}:tiny", "The capital", CONFIG, raw=True))
    assert remote.text == local.text
    assert [round(s.logprob, 4) for s in remote.steps] == [round(s.raw_logprob, 4) for s in local.steps]


def test_anthropic_messages_equal_the_local_model_and_say_there_are_no_logprobs(served, key, tiny_folder):
    local = collect(start_generation(tiny_folder, "Hello there", CONFIG, system="Be brief."))
    remote = collect(start_generation(f"anthropic@{served.root_url}:tiny", "Hello there", CONFIG, system="Be brief."))
    assert remote.text == local.text
    assert remote.finish_reason == "length"
    assert not any(s.has_logprob for s in remote.steps)
    assert "Anthropic's Messages API does not return per-token probabilities" in remote.probability_note


def test_json_schema_constraint_goes_to_the_server_as_response_format(served, key):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    config = GenerationConfig(max_new_tokens=20, constraint=Constraint("json_schema", schema))
    remote = collect(start_generation(f"openai@{served.base_url}:tiny", "Answer in JSON", config))
    assert json.loads(remote.text) in ({"ok": True}, {"ok": False})


def test_cli_generate_compare_and_show_probs_with_a_remote_model(served, key, tiny_folder, capsys):
    assert main(["generate", "--model", tiny_folder, "--prompt", "Hello there", "--max-new-tokens", "10"]) == 0
    local = capsys.readouterr().out
    name = f"openai@{served.base_url}:tiny"
    assert main(["generate", "--model", name, "--prompt", "Hello there", "--max-new-tokens", "10"]) == 0
    captured = capsys.readouterr()
    assert captured.out == local
    assert f"remote: {served.base_url}" in captured.err
    assert main(["generate", "--model", name, "--prompt", "Hello there", "--max-new-tokens", "3",
                 "--show-probs"]) == 0
    table = capsys.readouterr().out
    assert "top alternatives" in table and "nan" not in table
    assert main(["compare", "--models", f"{tiny_folder},{name}", "--strategies", "greedy", "--prompt", "Hello there",
                 "--max-new-tokens", "10", "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert cells[0]["text"] == cells[1]["text"] and cells[1]["remote"]["usage"]["completion_tokens"] == 10
    assert cells[1]["prompt_tokens"] == cells[0]["prompt_tokens"] > 0  # the server's count equals ours


def test_page_handlers_take_a_remote_model(served, key, tiny_folder):
    from llm_playground.ui.tabs import compare, generate

    updates = list(generate.generate(f"openai@{served.base_url}:tiny", "greedy", 0.8, 0, 0.95, 0.0, 1.0, 10, 0, 4,
                                     "", "Hello there"))
    output, coloured, stats, _, status = updates[-1]
    model_input = next(update[3] for update in updates if isinstance(update[3], str) and update[3])
    assert output == collect(start_generation(tiny_folder, "Hello there", CONFIG)).text
    assert 'data-prob="0.' in coloured or 'data-prob="1.' in coloured
    assert f"remote: {served.base_url}" in stats and "the server applies tiny's chat template" in model_input
    *_, (grid, status) = compare.compare("Hello there", [], ["greedy"], 10, 0, f"openai@{served.base_url}:tiny")
    assert "the server applies its own template" in grid and "finished: length" in grid


# --- clear one-line errors -----------------------------------------------------------------------

def test_a_wrong_or_missing_key_is_a_clear_401_message(served, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-Jx7")
    with pytest.raises(PlaygroundError) as error:
        collect(start_generation(f"openai@{served.base_url}:tiny", "Hello", CONFIG))
    assert str(error.value) == (f"{served.base_url} refused the request as unauthorised (401: the key in "
                                "OPENAI_API_KEY was refused); set OPENAI_API_KEY to a key this server accepts")
    assert "sk-wrong-key-Jx7" not in str(error.value)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PlaygroundError, match=r"401: none is set\); set ANTHROPIC_API_KEY"):
        collect(start_generation(f"anthropic@{served.root_url}:tiny", "Hello", CONFIG))


def test_an_unknown_model_names_the_served_ones(served, key):
    with pytest.raises(PlaygroundError, match=r"answered 404 for model 'nothing' \(.*tiny.*\); check the model name"):
        collect(start_generation(f"openai@{served.base_url}:nothing", "Hello", CONFIG))


def test_an_unreachable_url_is_one_line_without_traceback(capsys):
    port = closed_port()
    with pytest.raises(PlaygroundError, match=rf"cannot reach http://127.0.0.1:{port}/v1 \(.*\); check that the "
                                              "server is running"):
        collect(start_generation(f"openai@http://127.0.0.1:{port}/v1:m", "Hello", CONFIG))
    assert main(["generate", "--model", f"openai@http://127.0.0.1:{port}/v1:m", "--prompt", "Hello"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmpg: error: cannot reach") and "Traceback" not in err[0]


def test_a_server_that_never_answers_times_out(monkeypatch):
    monkeypatch.setenv("LLMPG_REMOTE_TIMEOUT", "0.5")
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        with pytest.raises(PlaygroundError, match=rf"^{url} did not answer within 0.5 s \(LLMPG_REMOTE_TIMEOUT\)"):
            collect(start_generation(f"openai@{url}:m", "Hello", CONFIG))


def test_the_official_service_needs_a_key_and_is_not_contacted_without_one(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(PlaygroundError, match="openai:gpt-4o-mini needs an API key: set OPENAI_API_KEY"):
        collect(start_generation("openai:gpt-4o-mini", "Hello", CONFIG))


@pytest.mark.parametrize("options, field", [
    ({"config": GenerationConfig(strategy="beam", num_beams=2)}, "strategy 'beam' (num_beams)"),
    ({"config": GenerationConfig(bad_words=["x"])}, "bad_words"),
    ({"config": GenerationConfig(no_repeat_ngram_size=2)}, "no_repeat_ngram_size"),
    ({"config": GenerationConfig(strategy="sample", typical_p=0.5)}, "typical_p"),
    ({"config": GenerationConfig(stop_at_eos=False)}, "stop_at_eos=False"),
    ({"config": GenerationConfig(constraint=Constraint("regex", "[0-9]+"))}, "constraint (regex)"),
    ({"allow_special": True}, "allow_special"),
    ({"backend": "fast"}, "backend 'fast'"),
])
def test_what_needs_a_local_tokenizer_is_refused_naming_the_field(options, field):
    config = options.pop("config", CONFIG)
    with pytest.raises(PlaygroundError, match=rf"^{field} is unavailable for remote model".replace("(", r"\(")
                       .replace(")", r"\)")):
        start_generation(f"openai@http://127.0.0.1:{closed_port()}/v1:m", "Hello", config, **options)


@pytest.mark.parametrize("name, config, field", [
    ("openai:gpt-4o-mini", GenerationConfig(strategy="sample", top_k=5), "top_k"),
    ("anthropic:claude-x", GenerationConfig(presence_penalty=0.5), "presence_penalty"),
    ("anthropic:claude-x", GenerationConfig(strategy="sample", seed=1), "seed"),
])
def test_parameters_a_provider_lacks_are_refused_naming_them(name, config, field):
    with pytest.raises(PlaygroundError, match=rf"^{field} is unavailable for remote model {name}"):
        start_generation(name, "Hello", config)


# --- servers without logprobs -------------------------------------------------------------------

def test_a_server_without_logprobs_gives_text_and_says_so(capsys):
    with plain_server() as (server, url):
        completion = collect(start_generation(f"openai@{url}:m", "Hello", CONFIG))
        assert completion.text == "Hello there!" and completion.finish_reason == "eos"
        assert not any(step.has_logprob for step in completion.steps)
        assert completion.token_count == 5  # the server's own count
        assert completion.probability_note == (f"{url} returned no per-token probabilities (logprobs) for m: the "
                                               "per-token probability view is unavailable for this output")
        assert server.requests[0]["logprobs"] is True  # asked for, not given
        assert main(["generate", "--model", f"openai@{url}:m", "--prompt", "Hello", "--show-probs"]) == 0
        captured = capsys.readouterr()
        assert captured.out.strip() == "Hello there!"  # no table of zeros
        notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
        assert notes == [f"note: {completion.probability_note}"]
        assert main(["generate", "--model", f"openai@{url}:m", "--prompt", "Hello", "--json"]) == 0
        assert {token["logprob"] for token in json.loads(capsys.readouterr().out)["tokens"]} == {None}


def test_a_server_that_refuses_logprobs_is_asked_again_without_them():
    with plain_server(refuse_logprobs=True) as (server, url):
        completion = collect(start_generation(f"openai@{url}:m", "Hello", CONFIG))
    assert completion.text == "Hello there!"
    assert [bool(r.get("logprobs")) for r in server.requests] == [True, False]
    assert completion.probability_note.startswith(f"{url} refused logprobs (logprobs is not supported with this "
                                                  "model), so per-token probabilities are unavailable")


def test_the_page_says_inline_that_there_are_no_probabilities():
    from llm_playground.ui.tabs import chat, generate

    with plain_server() as (_, url):
        *_, (output, coloured, stats, _, status) = generate.generate(
            f"openai@{url}:m", "greedy", 0.8, 0, 0.95, 0.0, 1.0, 10, 0, 4, "", "Hello")
        assert output == "Hello there!" and 'data-prob=""' in coloured
        assert "returned no per-token probabilities" in status and "llmpg-info" in status
        *_, (html, _, _, chat_status) = chat.send(f"openai@{url}:m", "greedy", 0.8, 10, None, "", "Hello", None)
        assert "Hel" in html and "returned no per-token probabilities" in chat_status


# --- stopping, and the key stays secret -----------------------------------------------------------

def test_a_stopped_remote_generation_ends_and_the_server_keeps_serving(served, key, tiny_folder):
    signal = StopSignal()
    run = start_generation(f"openai@{served.base_url}:tiny", "Hello there", GenerationConfig(max_new_tokens=200),
                           signal=signal)
    steps = iter(run.steps)
    next(steps)
    signal.stop("stopped by the test")
    with pytest.raises(GenerationStopped):
        list(steps)
    again = collect(start_generation(f"openai@{served.base_url}:tiny", "Hello there", CONFIG))
    assert again.text == collect(start_generation(tiny_folder, "Hello there", CONFIG)).text


def test_the_key_never_appears_in_logs_errors_reprs_or_files(served, key, caplog, capsys, isolated_home, monkeypatch):
    monkeypatch.setenv("OPENAI_LOG", "debug")
    caplog.set_level(logging.DEBUG)
    name = f"openai@{served.base_url}:tiny"
    run = start_generation(name, "Hello there", CONFIG)
    completion = collect(run)
    seen = [repr(run), repr(completion), json.dumps(completion.to_dict()), repr(run.remote)]
    assert main(["generate", "--model", name, "--prompt", "Hello", "--max-new-tokens", "3", "--json"]) == 0
    for wrong in (KEY + "x", KEY[:-1]):  # a wrong key that contains or nearly is the right one
        monkeypatch.setenv("OPENAI_API_KEY", wrong)
        with pytest.raises(PlaygroundError) as error:
            collect(start_generation(name, "Hello", CONFIG))
        seen += [str(error.value), repr(error.value), repr(error.value.__cause__), repr(error.value.__context__)]
    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    assert "Sending HTTP Request" in caplog.text  # the client's debug log was captured
    written = [p.read_bytes() for p in isolated_home.rglob("*") if p.is_file()] if isolated_home.exists() else []
    for text in [*seen, *(w.decode(errors="replace") for w in written)]:
        assert KEY not in text and KEY[:-1] not in text


# --- the acceptance check, as a user runs it ------------------------------------------------------

@pytest.mark.slow
def test_llmpg_generate_against_llmpg_serve_gives_the_local_answer(tmp_path):
    """`llmpg generate --model openai@http://127.0.0.1:PORT/v1:smollm2-135m-instruct` (greedy), as real
    processes, prints exactly what `llmpg generate --model smollm2-135m-instruct` prints."""
    import os
    import subprocess
    import sys

    from llm_playground.serving.testing import run_server

    def llmpg(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "llm_playground", *args], capture_output=True, text=True,
                              timeout=600, env={**os.environ, **env})

    prompt = ["--prompt", "What is the capital of France?", "--max-new-tokens", "24"]
    local = llmpg("generate", "--model", "smollm2-135m-instruct", *prompt)
    assert local.returncode == 0, local.stderr
    with run_server(["smollm2-135m-instruct"], api_key=KEY) as server:
        remote = llmpg("generate", "--model", f"openai@{server.base_url}:smollm2-135m-instruct", *prompt,
                       OPENAI_API_KEY=KEY)
        wrong = llmpg("generate", "--model", f"openai@{server.base_url}:smollm2-135m-instruct", *prompt,
                      OPENAI_API_KEY="sk-wrong")
        server_log = server.log()  # read before the block ends: the log file goes with the server
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and "Paris" in local.stdout
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        f"llmpg: error: {server.base_url} refused the request as unauthorised (401: the key in OPENAI_API_KEY was "
        "refused); set OPENAI_API_KEY to a key this server accepts"]
    assert KEY not in remote.stderr + remote.stdout + server_log
