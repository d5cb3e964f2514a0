"""Remote models: a model name that points at an OpenAI-compatible or Anthropic API.

    openai:gpt-4o-mini                                  OpenAI's API (https://api.openai.com/v1)
    anthropic:claude-haiku-4-5                          Anthropic's API (https://api.anthropic.com)
    openai@http://127.0.0.1:8000/v1:smollm2-135m-instruct   any OpenAI-compatible server (vLLM, Ollama,
                                                        llama-server, LM Studio, `llmpg serve`)
    anthropic@http://127.0.0.1:8000:smollm2-135m-instruct   any server of Anthropic's Messages API

The URL is what the provider's official client takes as `base_url`: for OpenAI it ends with `/v1`,
for Anthropic it is the server's root (a trailing `/v1` is dropped: the client adds `/v1/messages`).
A model name may itself hold colons (Ollama's `llama3.2:1b`): everything after the URL's own
`host[:port][/path]` and one colon is the model.

Parsing is pure: nothing here reads a key or opens a connection. The key is read from
`OPENAI_API_KEY` / `ANTHROPIC_API_KEY` only when a request is sent (`generation.remote`), and is
never stored on these objects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from llm_playground.errors import PlaygroundError

Provider = Literal["openai", "anthropic"]
PROVIDERS: dict[str, dict[str, str]] = {
    "openai": {"url": "https://api.openai.com/v1", "key": "OPENAI_API_KEY", "api": "OpenAI-compatible"},
    "anthropic": {"url": "https://api.anthropic.com", "key": "ANTHROPIC_API_KEY", "api": "Anthropic Messages"},
}
_PREFIX = re.compile(r"^(openai|anthropic)([:@])", re.IGNORECASE)
_AT_URL = re.compile(r"^(?P<url>https?://(?:\[[0-9A-Fa-f:.]+\]|[^/:@\s\[\]]+)(?::\d+)?(?:/[^:\s]*)?):(?P<model>\S.*)$")
EXAMPLES = ("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "openai@http://127.0.0.1:8000/v1:MODEL",
            "anthropic@http://127.0.0.1:8000:MODEL")


@dataclass(frozen=True)
class RemoteTarget:
    """Where a remote model is and how to talk to it (no key: that is read from the environment)."""

    provider: Provider
    """openai (any OpenAI-compatible server) or anthropic (Anthropic's Messages API)."""
    model: str
    """The model name the server knows (sent as `model`)."""
    base_url: str
    """The client's base URL: `…/v1` for OpenAI-compatible servers, the root for Anthropic."""
    official: bool
    """True for the provider's own service (no URL given in the name)."""

    @property
    def key_variable(self) -> str:
        """The environment variable the API key is read from."""
        return PROVIDERS[self.provider]["key"]

    @property
    def api(self) -> str:
        return PROVIDERS[self.provider]["api"]

    @property
    def name(self) -> str:
        """The model name as the user types it."""
        if self.official:
            return f"{self.provider}:{self.model}"
        return f"{self.provider}@{self.base_url}:{self.model}"


def is_remote_name(name: str) -> bool:
    """Whether `name` uses the remote syntax (`openai:…`, `anthropic@…`); says nothing of validity."""
    return isinstance(name, str) and bool(_PREFIX.match(name.strip()))


def parse_remote_name(name: str) -> RemoteTarget:
    """The target of a remote model name, or a PlaygroundError naming what is wrong.

    >>> parse_remote_name("openai@http://127.0.0.1:8080/v1:llama3.2:1b").model
    'llama3.2:1b'
    """
    text = name.strip()
    match = _PREFIX.match(text)
    if not match:
        raise PlaygroundError(f"model {name!r} is not a remote model name; examples: {', '.join(EXAMPLES)}")
    provider, separator, rest = match.group(1).lower(), match.group(2), text[match.end():]
    if separator == ":":
        if not rest.strip() or rest.startswith("//"):
            raise PlaygroundError(f"model {name!r} names no model after '{provider}:'; e.g. {EXAMPLES[0]} "
                                  f"(or {provider}@URL:MODEL for another server)")
        return RemoteTarget(provider, rest.strip(), PROVIDERS[provider]["url"], official=True)  # type: ignore[arg-type]
    if re.match(r"https?://[^/]*@", rest):
        raise PlaygroundError(f"the URL after '{provider}@' holds a user name or password; put none there: the key "
                              f"comes from {PROVIDERS[provider]['key']}")
    found = _AT_URL.match(rest)
    if not found:
        example = EXAMPLES[2] if provider == "openai" else EXAMPLES[3]
        raise PlaygroundError(f"model {name!r}: after '{provider}@' comes an http(s) URL, a colon and the model "
                              f"name, e.g. {example}")
    url, model = found.group("url").rstrip("/"), found.group("model").strip()
    if model.isdigit() and re.fullmatch(r"https?://[^/:]+", url):  # "…@http://host:8080": a port, no model
        raise PlaygroundError(f"model {name!r} names no model after the URL; add ':MODEL', e.g. "
                              f"{EXAMPLES[2] if provider == 'openai' else EXAMPLES[3]}")
    if provider == "anthropic" and url.endswith("/v1"):
        url = url[: -len("/v1")]  # Anthropic's client adds /v1/messages itself
    return RemoteTarget(provider, model, url, official=False)  # type: ignore[arg-type]
