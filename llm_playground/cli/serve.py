"""`llmpg serve`: the OpenAI- and Anthropic-compatible API server."""
from __future__ import annotations

from llm_playground.serving.server import DEFAULT_MODELS


def serve(*, host: str = "127.0.0.1", port: int = 8000, models: str = DEFAULT_MODELS, api_key: str | None = None,
          allow_insecure_remote: bool = False, backend: str = "auto", slots: int = 1,
          time_limit: float = 600.0) -> int:
    """Serve models over OpenAI's API (/v1/chat/completions, /v1/completions, /v1/embeddings,
    /v1/models) and Anthropic's (/v1/messages), plus /health and /metrics (Prometheus). Any OpenAI or
    Anthropic client works with base_url http://HOST:PORT/v1. See docs/serving.md.

    Args:
        host: address to listen on; 127.0.0.1 keeps it on this computer. Another address needs --api-key (or --allow-insecure-remote).
        port: TCP port to listen on (0: any free port; the line printed says which).
        models: comma-separated models to serve: zoo names, local model names or folders, each optionally as ID=NAME-OR-FOLDER.
        api_key: the key clients must send (Authorization: Bearer KEY or x-api-key); default: $LLMPG_API_KEY, else none.
        allow_insecure_remote: listen on a non-loopback address without a key (anyone who can reach the port can use the models).
        backend: the engine that generates: auto (the fast engine for Llama models), native, hf, fast, fast-bf16, fast-int8, fast-int4.
        slots: generations that run at the same time (others wait in the queue).
        time_limit: seconds one generation may run before it is stopped.
    """
    from llm_playground.serving.server import serve as run

    run(host=host, port=port, models=models, api_key=api_key, allow_insecure_remote=allow_insecure_remote,
        backend=backend, slots=slots, time_limit=time_limit)
    return 0


COMMANDS: dict = {"serve": serve}
