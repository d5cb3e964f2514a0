"""Serve the playground: queue, bind to the local machine, print the URL, block until Ctrl+C."""
from __future__ import annotations

import socket

from llm_playground.errors import PlaygroundError

MAX_QUEUE = 64
"""Requests waiting at most; a user beyond that is told the queue is full (nothing crashes)."""


def check_port(host: str, port: int) -> None:
    """Raise a clear error when the port is out of range or already taken (before Gradio starts)."""
    if not 1 <= port <= 65535:
        raise PlaygroundError(f"port must be between 1 and 65535 (got {port})")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PlaygroundError(f"cannot listen on {host}:{port} ({error.strerror}); is another playground "
                                  "running? pass another --port") from None


def serve(host: str = "127.0.0.1", port: int = 7860, *, block: bool = True):
    """Build the page, start the server and print its URL; blocks until interrupted when `block`.

    Every model event shares one concurrency group of size 1 (see ui.common.MODEL_CONCURRENCY):
    concurrent users are queued, not run in parallel on the same CPU cores.
    """
    check_port(host, port)  # before importing Gradio (seconds): a bad port fails at once
    from llm_playground.ui.app import CSS, build_app, theme

    app = build_app()
    app.queue(default_concurrency_limit=1, max_size=MAX_QUEUE)
    _, url, _ = app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                           show_error=False, theme=theme(), css=CSS, footer_links=[], ssr_mode=False,
                           run_history=False, mcp_server=False, enable_monitoring=False)
    print(f"llm-playground is running at {url}  (Ctrl+C to stop)", flush=True)
    if block:
        try:
            app.block_thread()
        finally:
            app.close()
    return app
