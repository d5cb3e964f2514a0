"""Resident memory of a real `llmpg ui` server once every tab was used with every zoo model.

    .venv/bin/python scripts/page_memory.py [--port 7890]

Starts the server on a free loopback port, calls each tab's event through Gradio's own client
(the same requests the page sends), and prints the server process's RSS after each step and at
the end. Used for the before/after figures of the model store (docs/store-and-limits.md).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    import psutil
    from gradio_client import Client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port or free_port()
    server = subprocess.Popen([sys.executable, "-m", "llm_playground", "ui", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):
            if server.poll() is not None:
                print(server.stdout.read())
                return 1
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        time.sleep(2)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        process = psutil.Process(server.pid)

        def rss(label: str) -> None:
            print(f"{label:58} server RSS {process.memory_info().rss / 1e9:5.2f} GB", flush=True)

        rss("started")
        text = "The cat sat on the mat because it was tired."
        for model in ("smollm2-135m-instruct", "gemma3-270m", "gpt2", "minilm-l6"):
            client.predict(model, 2048, api_name="/inspect")
            rss(f"Inspect {model}")
            if model != "minilm-l6":
                client.predict(model, "The capital of France is", 0.8, 0, 1.0, 0.0, 1.0, 10, api_name="/next_token")
                rss(f"Next token {model}")
                client.predict(model, "greedy", 0.8, 0, 0.95, 0.0, 1.0, 16, 0, 4, "", "What is the capital of France?",
                               False, "none", "", api_name="/generate")
                rss(f"Generate {model}")
            client.predict(model, text, 0, 0, False, api_name="/attention")
            rss(f"Attention {model}")
        client.predict("The capital of France is", ["gemma3-270m", "smollm2-135m-instruct"], ["greedy"], 8, 0, "",
                       api_name="/compare")
        rss("Compare gemma3-270m × smollm2-135m-instruct")
        client.predict("Hello world 😀", ["gpt2", "cl100k_base", "smollm2-135m-instruct", "gemma3-270m", "minilm-l6"],
                       False, api_name="/tokenize")
        rss("Tokenize five tokenizers")
        time.sleep(3)
        rss("every tab used with every zoo model")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("LLMPG_THREADS", "2")
    sys.exit(main())
