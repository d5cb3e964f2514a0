"""Process-wide settings, applied once at start-up: offline mode, threads, cache locations.

Every face calls `configure()` before it touches a model. Modules never set these themselves.
"""
from __future__ import annotations

import os
from pathlib import Path

_configured = False


def home() -> Path:
    """The one cache root: `$LLMPG_HOME`, default `~/.cache/llm-playground`."""
    return Path(os.environ.get("LLMPG_HOME") or Path.home() / ".cache" / "llm-playground").expanduser()


def online() -> bool:
    """True only when the user opted in to the network with `LLMPG_ONLINE=1`."""
    return os.environ.get("LLMPG_ONLINE", "") not in ("", "0", "false", "no")


def usable_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_offline_environment() -> None:
    """Offline by default: hub libraries fail at once instead of retrying for ~46 s."""
    if not online():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # transformers' per-load "Loading weights" bars are noise here; our one-time conversion has its own bar
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(home() / "tiktoken"))


def thread_count() -> int:
    """Torch threads: `$LLMPG_THREADS` if set, else the number of usable cores."""
    value = os.environ.get("LLMPG_THREADS")
    return max(1, int(value)) if value and value.isdigit() else usable_cores()


def configure(threads: int | None = None) -> None:
    """Apply the process-wide settings once; later calls only change the thread count."""
    global _configured
    set_offline_environment()
    import torch

    torch.set_num_threads(threads or thread_count())
    level = os.environ.get("LLMPG_LOG", "").upper()
    if level:  # e.g. LLMPG_LOG=debug: when generations start and stop, and why
        import logging

        logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("llm_playground").setLevel(getattr(logging, level, logging.INFO))
    _configured = True


# Environment variables must be in place before transformers / huggingface_hub are imported.
set_offline_environment()
