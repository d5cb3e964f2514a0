"""Remote model names: parsing (pure, no network) and what a remote spec refuses."""
import re

import pytest

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.zoo.remote import is_remote_name, parse_remote_name


@pytest.mark.parametrize("name, provider, base_url, model, official", [
    ("openai:gpt-4o-mini", "openai", "https://api.openai.com/v1", "gpt-4o-mini", True),
    ("anthropic:claude-haiku-4-5", "anthropic", "https://api.anthropic.com", "claude-haiku-4-5", True),
    ("openai@http://127.0.0.1:8080/v1:smollm2-135m-instruct", "openai", "http://127.0.0.1:8080/v1",
     "smollm2-135m-instruct", False),
    ("openai@http://127.0.0.1:11434/v1:llama3.2:1b", "openai", "http://127.0.0.1:11434/v1", "llama3.2:1b", False),
    ("openai@https://vllm.example.org/v1:meta-llama/Llama-3.1-8B-Instruct", "openai", "https://vllm.example.org/v1",
     "meta-llama/Llama-3.1-8B-Instruct", False),
    ("anthropic@http://127.0.0.1:8080:tiny", "anthropic", "http://127.0.0.1:8080", "tiny", False),
    ("anthropic@http://127.0.0.1:8080/v1:tiny", "anthropic", "http://127.0.0.1:8080", "tiny", False),  # /v1 dropped
    ("openai@http://[::1]:8000/v1:m", "openai", "http://[::1]:8000/v1", "m", False),
])
def test_remote_names_parse_into_provider_url_and_model(name, provider, base_url, model, official):
    target = parse_remote_name(name)
    assert (target.provider, target.base_url, target.model, target.official) == (provider, base_url, model, official)
    assert is_remote_name(name)
    spec = zoo.resolve(name)
    assert spec.remote == target and spec.kind == "chat" and spec.generates
    assert parse_remote_name(target.name) == target  # the canonical name parses back to the same target


@pytest.mark.parametrize("name, says", [
    ("openai:", "names no model"),
    ("openai@ftp://127.0.0.1/v1:m", "comes an http(s) URL"),
    ("openai@http://127.0.0.1:8080", "names no model after the URL"),
    ("anthropic@127.0.0.1:8080:m", "comes an http(s) URL"),
    ("openai@http://user:secret@127.0.0.1/v1:m", "holds a user name or password"),
])
def test_bad_remote_names_say_what_is_wrong(name, says):
    with pytest.raises(PlaygroundError, match=re.escape(says)):
        zoo.resolve(name)


def test_zoo_and_folder_names_are_not_remote():
    assert not is_remote_name("smollm2-135m-instruct")
    assert not is_remote_name("/tmp/openai:model")
    assert zoo.resolve("smollm2-135m-instruct").remote is None


@pytest.mark.parametrize("load, what", [
    (zoo.load_tokenizer, "its tokenizer"), (zoo.load_hf_model, "its weights"), (zoo.meta_model, "its architecture"),
    (zoo.model_dir, "its model folder"), (zoo.load_sentence_transformer, "sentence embeddings"),
    (zoo.eos_token_ids, "its end-of-sequence tokens"),
])
def test_a_remote_model_has_nothing_local_and_says_so(load, what):
    with pytest.raises(PlaygroundError, match=f"is a remote model: .*{what} is unavailable"):
        load("openai@http://127.0.0.1:9/v1:m")
