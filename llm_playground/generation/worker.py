"""Run a generation in a worker thread so that a server face can always stop it.

A web page or an API request consumes `GenerationWorker.updates()`: the steps as they come, and a
`Progress` tick every `tick` seconds while nothing comes (beam search yields its tokens only at the
end). The generation stops within one model step when

- the consumer closes the iterator (a Stop button, a closed tab or a disconnected client: the server
  stops iterating and closes the generator),
- the consumer stops reading for `abandon_after` seconds (a server that drops a generator without
  closing it), or
- the request's time limit passes (`StopSignal(time_limit=…)`).

    worker = GenerationWorker(lambda signal, progress: start_generation(..., signal=signal,
                                                                      on_beam_step=progress), time_limit=120)
    for update in worker.updates():
        if isinstance(update, Step): ...     # a token
        else: ...                            # Progress: still working (beam step n, seconds so far)
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from llm_playground.generation.cancel import StopSignal

_DONE = object()


@dataclass(frozen=True)
class Progress:
    """The worker is still busy: no new token yet."""

    seconds: float
    """Since the request started."""
    beam_steps: int = 0
    """Beam-search steps done so far (0 for token-by-token strategies)."""


class GenerationWorker:
    """One generation in a daemon thread, stoppable from the consuming thread."""

    def __init__(self, start: Callable[[StopSignal, Callable[[int], None]], "object"], *,
                 time_limit: float | None = None, tick: float = 0.25, abandon_after: float = 2.0) -> None:
        """
        Args:
            start: called in the worker thread with (signal, on_beam_step); returns a GenerationRun.
            time_limit: seconds after which the generation stops by itself (None: no limit).
            tick: how often `updates()` yields a Progress while nothing else comes.
            abandon_after: stop the generation when the consumer has not asked for an update this long.
        """
        self.signal = StopSignal(time_limit=time_limit)
        self.run = None
        """The GenerationRun, once started (its prompt is known before the first token)."""
        self.started = threading.Event()
        self._start = start
        self._tick = tick
        self._abandon_after = abandon_after
        self._queue: "queue.Queue" = queue.Queue()
        self._beam_steps = 0
        self._last_read = time.monotonic()
        self._thread = threading.Thread(target=self._work, name="llmpg-generation", daemon=True)
        self._thread.start()

    def _on_beam_step(self, steps: int) -> None:
        self._beam_steps = steps
        self._check_consumer()

    def _check_consumer(self) -> None:
        if time.monotonic() - self._last_read > self._abandon_after:
            self.signal.stop("stopped: nobody is reading the result any more")

    def _work(self) -> None:
        try:
            self.run = self._start(self.signal, self._on_beam_step)
            self.started.set()
            for step in self.run.steps:
                self._queue.put(step)
                self._check_consumer()
                self.signal.check()
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread
            self._queue.put(error)
        finally:
            self.started.set()
            self._queue.put(_DONE)

    def stop(self, reason: str = "stopped") -> None:
        """Ask the generation to stop; it ends within one model step."""
        self.signal.stop(reason)

    def updates(self) -> Iterator["object"]:
        """Steps as they come, Progress ticks in between; raises what the generation raised (a time
        limit is a `GenerationStopped` with its reason). Closing it stops the generation."""
        try:
            while True:
                self._last_read = time.monotonic()
                try:
                    item = self._queue.get(timeout=self._tick)
                except queue.Empty:
                    yield Progress(seconds=self.signal.elapsed, beam_steps=self._beam_steps)
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop("stopped: the request was closed")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
