"""Start a real `llmpg serve` process for a test (or a benchmark) and stop it afterwards.

    with run_server(["tiny=/path/to/model", "minilm-l6"], api_key="k") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k")
        ...
        server.rss()        # the server's resident memory, bytes

It listens on a free port of 127.0.0.1 (never another address) and is stopped (SIGTERM, then SIGKILL)
when the block ends, even when the test fails.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from llm_playground.errors import PlaygroundError

_RUNNING = re.compile(r"running at (http://\S+/v1)")


@dataclass
class ServerProcess:
    base_url: str
    """http://127.0.0.1:PORT/v1: what OpenAI and Anthropic clients take as base_url (Anthropic's
    client wants it without /v1: `root_url`)."""
    process: subprocess.Popen
    log_path: Path

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None


@contextlib.contextmanager
def run_server(models: list[str], *, api_key: str | None = None, extra_args: list[str] = (),
               startup_timeout: float = 120.0, env: dict | None = None) -> Iterator[ServerProcess]:
    """`llmpg serve` on a free loopback port, as a separate process, for the duration of the block."""
    log_file = tempfile.NamedTemporaryFile(prefix="llmpg-serve-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "llm_playground", "serve", "--host", "127.0.0.1", "--port", "0",
               "--models", ",".join(models), *extra_args]
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    if api_key is not None:
        environment["LLMPG_API_KEY"] = api_key  # not on the command line, where `ps` would show it
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=environment)
    found: dict = {}

    def read() -> None:
        for line in process.stdout:
            match = _RUNNING.search(line)
            if match and "url" not in found:
                found["url"] = match.group(1)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server = None
    try:
        deadline = time.monotonic() + startup_timeout
        while "url" not in found:
            if process.poll() is not None:
                raise PlaygroundError(f"llmpg serve exited with {process.returncode}: "
                                      f"{Path(log_file.name).read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise PlaygroundError(f"llmpg serve did not start within {startup_timeout:g} s")
            time.sleep(0.05)
        server = ServerProcess(found["url"], process, Path(log_file.name))
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log_file.close()
        with contextlib.suppress(OSError):
            os.unlink(log_file.name)
