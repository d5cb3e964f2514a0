"""Stopping a generation from outside it: a Stop button, a closed browser tab, a client that
disconnected, or a per-request time limit.

    signal = StopSignal(time_limit=120)
    run = start_generation(model, prompt, config, signal=signal)
    ...                        # another thread: signal.stop("stopped by the user")

The generator and beam search call `signal.check()` before each model call, so a stopped request
ends within one step (one token, or one beam-search step over every beam), never minutes later.
"""
from __future__ import annotations

import threading
import time

from llm_playground.errors import PlaygroundError


class GenerationStopped(PlaygroundError):
    """A generation that was asked to stop (by a person, a disconnect, or its time limit)."""


class StopSignal:
    """Asks a running generation to stop, from any thread; optionally with a time limit."""

    def __init__(self, time_limit: float | None = None) -> None:
        """
        Args:
            time_limit: seconds after which the generation stops by itself (None: no limit).
        """
        if time_limit is not None and not time_limit > 0:
            raise PlaygroundError(f"time_limit must be more than 0 seconds (got {time_limit})")
        self.started = time.monotonic()
        self.time_limit = time_limit
        self._event = threading.Event()
        self._reason = ""

    def stop(self, reason: str = "stopped") -> None:
        """Ask the generation to stop at its next step."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def stopped(self) -> bool:
        """True once `stop` was called or the time limit has passed."""
        if not self._event.is_set() and self.time_limit is not None and self.elapsed > self.time_limit:
            self.stop(f"stopped after the {self.time_limit:g} s time limit of one request; ask for fewer tokens "
                      "or beams")
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        """Raise GenerationStopped (with the reason) if the generation should stop now."""
        if self.stopped:
            raise GenerationStopped(self._reason)

