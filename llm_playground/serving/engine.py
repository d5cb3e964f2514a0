"""The one narrow door between the API server and the engines that generate.

Every generation the server runs (chat completions, completions, Anthropic messages, each of `n`
choices) goes through `Engine.stream`:

    request = EngineRequest(spec, backend="fast", prompt_ids=[...], config=GenerationConfig(...),
                            eos_ids={2}, signal=StopSignal(time_limit=600))
    for step in engine.stream(request):   # the same `Step`s generation/generator.py yields
        ...

The contract, for every implementation (this serial one, and the continuous-batching scheduler):

- `stream` is a plain blocking iterator, called from a worker thread of the server (never from the
  event loop). It yields `generation.generator.Step`s; the last one has `finish_reason` set.
- `request.config.constraint` (response_format, tools) is applied by the generator's processors:
  the engine does not look at it.
- `request.signal` may be stopped from another thread at any time (a client disconnected, the
  request's time limit): the stream then ends within one model step by raising
  `GenerationStopped` (or simply returning), and its slot is free for the next request at once.
  Closing the iterator early (`.close()`) must have the same effect.
- A request waiting for a slot counts in `queue_depth()`, a generating one in `running()`; a request
  whose signal fires while it waits never starts.
- Errors meant for the user are `PlaygroundError`s; anything else is a bug (the server answers 500
  without a traceback).

`SerialEngine` implements it with the existing generator: at most `slots` generations at once
(one by default: on a laptop CPU two generations side by side only share the same cores), each on
its own backend instance (its own KV cache) over the model store's shared weights.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Protocol

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import GenerationStopped, StopSignal
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Step


@dataclass
class EngineRequest:
    """One generation, fully prepared by the server: nothing left to decide but the tokens."""

    spec: zoo.ModelSpec
    """The model, resolved once for the request."""
    backend: str
    """The engine name `generation.api.choose_backend` picked (fast, native, hf, …)."""
    prompt_ids: list[int]
    """The exact ids the model reads (chat template applied where it applies)."""
    config: GenerationConfig
    """Every decoding control, the constraint (config.constraint) included."""
    eos_ids: set[int]
    """Every id that ends the sequence (`zoo.eos_token_ids`)."""
    signal: StopSignal = field(default_factory=StopSignal)
    """Stopped from another thread when the client goes away or the time limit passes."""


class Engine(Protocol):
    """What the server needs from whatever generates: see the module docstring for the contract."""

    def stream(self, request: EngineRequest) -> Iterator[Step]: ...

    def queue_depth(self) -> int: ...

    def running(self) -> int: ...


class SerialEngine:
    """The existing token-yielding generator behind the `Engine` door, `slots` generations at a time."""

    def __init__(self, slots: int = 1) -> None:
        if not isinstance(slots, int) or slots < 1:
            raise PlaygroundError(f"slots must be a whole number ≥ 1 (got {slots!r})")
        self.slots = slots
        self._free = threading.Condition()
        self._running = 0
        self._waiting = 0

    def queue_depth(self) -> int:
        return self._waiting

    def running(self) -> int:
        return self._running

    def _acquire(self, signal: StopSignal) -> None:
        """Wait for a free slot; give up (GenerationStopped) as soon as the signal fires."""
        with self._free:
            self._waiting += 1
            try:
                while self._running >= self.slots:
                    signal.check()
                    self._free.wait(timeout=0.05)
                signal.check()
                self._running += 1
            finally:
                self._waiting -= 1

    def _release(self) -> None:
        with self._free:
            self._running -= 1
            self._free.notify()

    def stream(self, request: EngineRequest) -> Iterator[Step]:
        from llm_playground.generation.backends import make_backend
        from llm_playground.generation.generator import generate_steps

        self._acquire(request.signal)
        try:
            backend = make_backend(request.spec, request.backend)
            tokenizer = zoo.load_tokenizer(request.spec)
            yield from generate_steps(backend, tokenizer, request.prompt_ids, request.config,
                                      eos_ids=request.eos_ids, signal=request.signal)
        finally:
            self._release()


__all__ = ["Engine", "EngineRequest", "GenerationStopped", "SerialEngine"]
