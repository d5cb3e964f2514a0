"""Start the API server (uvicorn), after the checks that need no model:

- the port is in range and free (0: any free port; the line printed says which);
- a host that is not this computer's loopback needs an API key, or `allow_insecure_remote`: without
  a key, anyone who can reach the port can use the models (and the CPU) of this machine.

It prints `llmpg serve: running at http://HOST:PORT/v1 …` once it accepts connections (the tests and
`serving.testing.run_server` wait for that line).
"""
from __future__ import annotations

import ipaddress
import logging
import os

from llm_playground.errors import PlaygroundError

DEFAULT_MODELS = "smollm2-135m-instruct,minilm-l6"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, api_key: str | None, allow_insecure_remote: bool) -> None:
    """Refuse to open the models to the network without a key, unless explicitly allowed."""
    if not host:
        raise PlaygroundError("host must be an address such as 127.0.0.1")
    if is_loopback(host) or api_key or allow_insecure_remote:
        return
    raise PlaygroundError(f"refusing to listen on {host} without an API key: anyone who can reach this port could "
                          "use this machine's models and CPU. Pass --api-key KEY (or set LLMPG_API_KEY), listen on "
                          "127.0.0.1, or pass --allow-insecure-remote if this network is trusted")


def check_api_key(api_key: str | None) -> str | None:
    if api_key is None:
        return None
    if not api_key.strip() or any(ch.isspace() for ch in api_key):
        raise PlaygroundError("api_key must be non-empty text without spaces")
    return api_key


def serve(*, host: str = "127.0.0.1", port: int = 8000, models: str = DEFAULT_MODELS, api_key: str | None = None,
          allow_insecure_remote: bool = False, backend: str = "auto", slots: int = 1,
          time_limit: float = 600.0, log_level: str = "warning") -> None:
    """Check, build the app and serve until interrupted."""
    import uvicorn

    from llm_playground.serving.app import create_app
    from llm_playground.serving.engine import SerialEngine
    from llm_playground.serving.prepare import ServedModels

    api_key = check_api_key(api_key if api_key is not None else os.environ.get("LLMPG_API_KEY") or None)
    check_host(host, api_key, allow_insecure_remote)
    if port != 0:
        from llm_playground.ui.server import check_port

        check_port(host, port)
    if not time_limit > 0:
        raise PlaygroundError(f"time_limit must be more than 0 seconds (got {time_limit})")
    served = ServedModels.from_names([m for m in models.split(",") if m.strip()], backend=backend)
    app = create_app(served, api_key=api_key, engine=SerialEngine(slots=slots), time_limit=time_limit)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                bound = self.servers[0].sockets[0].getsockname()
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                print(f"llmpg serve: running at http://{shown}:{bound[1]}/v1 (models: {', '.join(served.specs)}; "
                      f"key {'required' if api_key else 'not required'}; Ctrl+C to stop)", flush=True)

    logging.getLogger("llm_playground.serving").setLevel(logging.INFO)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=2)
    Server(config).run()
