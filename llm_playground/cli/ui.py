"""`llmpg ui`: serve the web playground."""
from __future__ import annotations


def ui(*, host: str = "127.0.0.1", port: int = 7860) -> int:
    """Serve the web playground (tokenize, inspect, next token, generate, compare, attention) and
    print its URL. Models load on first use and are shared by every tab and user.

    Args:
        host: address to listen on; 127.0.0.1 keeps it on this computer, 0.0.0.0 opens it to the network.
        port: TCP port to listen on.
    """
    from llm_playground.ui.server import serve

    serve(host, port)
    return 0


COMMANDS: dict = {"ui": ui}
