"""Continuous batching: concurrent requests share one batched decode step of the fast engine.

    scheduler = BatchScheduler(weights, tokenizer, eos_ids=eos_ids)       # or scheduler_for("smollm2-135m-instruct")
    request = scheduler.submit(prompt_ids, GenerationConfig(max_new_tokens=64), signal=StopSignal())
    for step in request:          # the same `Step`s generate_steps yields, as they come
        print(step.text, end="")

One worker thread owns the fast decoder (`models.fast.FastDecoder`, one KV-cache slot per live
request). Between two decode steps it

1. drops the requests whose `StopSignal` fired (a Stop, a disconnect, a time limit): their slot is
   free for the next step, and their reader gets `GenerationStopped`;
2. admits waiting requests into free slots (at most `max_batch` live): each prompt is prefilled into
   its slot in the next step and yields its first token, without waiting for the others to finish;
3. runs one `FastDecoder.decode_rows` call: the joining prompts are prefilled, and every other
   live request gets one token in a single batch-invariant pass over the weights;
4. turns each request's logits row into its next `Step` with that request's own `SequenceDecoder`
   (generation/generator.py: its processors, constraint, RNG, stop strings, detokenizer); a
   finished request leaves the batch.

A row's logits do not depend on the other rows (`FastDecoder.decode` is batch-invariant), so a request's
greedy output is identical alone and in a batch of 16.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import deque
from typing import Iterator

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import GenerationStopped, StopSignal
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import SequenceDecoder, Step

log = logging.getLogger(__name__)

_DONE = object()
CACHE_ROUNDING = 256
"""The KV cache grows in steps of this many positions (growing copies the cache)."""
KV_BUDGET_BYTES = 2 * 1024 ** 3
"""Most memory the batch's KV cache may take (slots × longest request × bytes per position): a request
that would pass it waits until enough others have finished (one request alone always runs)."""
IDLE_KEEP_BYTES = 256 * 1024 ** 2
"""A cache larger than this is let go when the batch empties (a later request allocates again)."""


class BatchRequest:
    """One request in a `BatchScheduler`. Iterate it for its Steps; closing the iteration early
    (or `cancel()`) stops it and frees its slot before the next decode step."""

    def __init__(self, prompt_ids: list[int], sequence: SequenceDecoder, signal: StopSignal) -> None:
        self.prompt_ids = list(prompt_ids)
        self.sequence = sequence
        self.signal = signal
        self.slot: int | None = None
        """Its KV-cache slot while it is in the batch."""
        self.next_token: int | None = None
        self.finished = threading.Event()
        """Set once it has left the scheduler (finished, failed or stopped)."""
        self._updates: "queue.Queue" = queue.Queue()

    @property
    def length_needed(self) -> int:
        return len(self.prompt_ids) + self.sequence.config.max_new_tokens

    def cancel(self, reason: str = "stopped") -> None:
        """Stop it: it leaves the batch before the next decode step."""
        self.signal.stop(reason)

    def __iter__(self) -> Iterator[Step]:
        try:
            while True:
                item = self._updates.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not self.finished.is_set():
                self.cancel("stopped: the request was closed")

    # --- called by the scheduler's thread --------------------------------------------------
    def _put(self, step: Step) -> None:
        self._updates.put(step)
        if step.finish_reason:
            self._end()

    def _fail(self, error: BaseException) -> None:
        self._updates.put(error)
        self._end()

    def _end(self) -> None:
        self._updates.put(_DONE)
        self.finished.set()


class BatchScheduler:
    """Continuous batching over one `FastDecoder`: requests join and leave between decode steps."""

    def __init__(self, weights, tokenizer, *, eos_ids: set[int] | None = None, max_batch: int = 32,
                 kv_budget_bytes: int = KV_BUDGET_BYTES, name: str = "", use_kernels: bool = True,
                 threads: int | None = None) -> None:
        """
        Args:
            weights: the fast engine's packed weights (`generation.backends.fast_weights`: from the store).
            tokenizer: the model's tokenizer (text of each step, stop strings, constraints).
            eos_ids: the ids that end a sequence (default: the tokenizer's).
            max_batch: most requests decoded together; later ones wait for a free slot.
            kv_budget_bytes: most memory for the KV cache of the whole batch (see KV_BUDGET_BYTES).
            name: the model's name (messages, metrics).
            use_kernels, threads: as `FastDecoder`'s.
        """
        from llm_playground.models.fast import FastDecoder

        if not isinstance(max_batch, int) or not 1 <= max_batch <= 256:
            raise PlaygroundError(f"max_batch must be between 1 and 256 (got {max_batch!r})")
        self._new_decoder = lambda: FastDecoder(weights, use_kernels=use_kernels, threads=threads)
        self.decoder = self._new_decoder()
        cfg = weights.config
        self.kv_bytes_per_position = cfg.n_layer * 2 * cfg.n_kv_head * cfg.head_dim * 4  # keys + values, fp32
        self.kv_budget_bytes = kv_budget_bytes
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.max_batch = max_batch
        self.name = name or weights.config.name
        self.decode_steps = 0
        """Batched decode steps run so far."""
        self.decoded_rows = 0
        """Tokens those steps produced (decoded_rows / decode_steps: the mean batch size)."""
        self._waiting: deque[BatchRequest] = deque()
        self._live: dict[int, BatchRequest] = {}  # slot → request
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- what callers use ------------------------------------------------------------------
    def submit(self, prompt_ids: list[int], config: GenerationConfig, *, signal: StopSignal | None = None,
               eos_ids: set[int] | None = None) -> BatchRequest:
        """Queue a request; it joins the batch at the next step boundary with a free slot.
        `eos_ids`: this request's end-of-sequence ids (default: the scheduler's)."""
        started = time.perf_counter()
        if config.strategy == "beam":
            raise PlaygroundError("beam search is not batched; run it with backend native or hf")
        if not prompt_ids:
            raise PlaygroundError("the prompt has no tokens")
        context = self.decoder.config.block_size
        if len(prompt_ids) + config.max_new_tokens > context:
            raise PlaygroundError(f"the prompt is {len(prompt_ids)} tokens plus {config.max_new_tokens} new tokens, "
                                  f"but {self.name}'s context window is {context} tokens; shorten the prompt or "
                                  "ask for fewer new tokens")
        sequence = SequenceDecoder(self.tokenizer, prompt_ids, config, started=started,
                                   eos_ids=self.eos_ids if eos_ids is None else eos_ids)
        sequence.prepare(self.decoder.config.vocab_size)  # compile a constraint here, not in the batch's thread
        request = BatchRequest(prompt_ids, sequence, signal or StopSignal())
        with self._lock:
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"llmpg-batching-{self.name}", daemon=True)
                self._thread.start()
        return request

    def generate(self, prompt_ids: list[int], config: GenerationConfig, *, signal: StopSignal | None = None,
                 eos_ids: set[int] | None = None) -> Iterator[Step]:
        """The steps of one request, submitted when iteration starts (like `generate_steps`)."""
        yield from self.submit(prompt_ids, config, signal=signal, eos_ids=eos_ids)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the worker thread has ended (nothing live or waiting); True if it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    @property
    def live(self) -> int:
        """Requests in the batch now."""
        return len(self._live)

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot (the queue depth)."""
        return len(self._waiting)

    # --- the worker thread -----------------------------------------------------------------
    def _work(self) -> None:
        with torch.inference_mode():
            while True:
                try:
                    joining = self._admit()
                    if joining is None:
                        return
                    self._step(joining)
                except Exception as error:  # noqa: BLE001 - a broken step fails the requests in it, not the server
                    log.exception("batched step failed")
                    with self._lock:
                        broken, self._live = list(self._live.values()), {}
                    for request in broken:  # each reader raises it (not a PlaygroundError: a bug, a 500)
                        request._fail(error)

    def _admit(self) -> list[BatchRequest] | None:
        """Drop stopped requests, give free slots to waiting ones; None when there is nothing to do
        (the thread ends, and the next `submit` starts a new one)."""
        with self._lock:
            for slot, request in list(self._live.items()):
                if request.signal.stopped:
                    del self._live[slot]
                    request._fail(GenerationStopped(request.signal.reason))
            for request in [r for r in self._waiting if r.signal.stopped]:
                self._waiting.remove(request)
                request._fail(GenerationStopped(request.signal.reason))
            joining = []
            free = (slot for slot in range(self.max_batch) if slot not in self._live)
            while self._waiting and len(self._live) < self.max_batch:
                request = self._waiting[0]
                slot = next(free)
                if self._live and self._cache_bytes([*self._live.values(), request], slot) > self.kv_budget_bytes:
                    break  # it waits for others to finish
                self._waiting.popleft()
                request.slot = slot
                self._live[slot] = request
                joining.append(request)
            if not self._live:
                self._thread = None
                if self.decoder.max_length * self.decoder.sequences * self.kv_bytes_per_position > IDLE_KEEP_BYTES:
                    self.decoder = self._new_decoder()  # let a large idle cache go
                return None
            live = list(self._live.values())
        self.decoder.grow(self._cache_length(live), sequences=max(request.slot for request in live) + 1)
        return joining

    def _cache_length(self, requests: list[BatchRequest]) -> int:
        length = max(request.length_needed for request in requests)
        return min(-(-length // CACHE_ROUNDING) * CACHE_ROUNDING, self.decoder.config.block_size)

    def _cache_bytes(self, requests: list[BatchRequest], new_slot: int) -> int:
        """The cache's size once `requests` are live (the last one in `new_slot`): it only grows."""
        slots = max(self.decoder.sequences, new_slot + 1, *(r.slot + 1 for r in requests if r.slot is not None))
        length = max(self.decoder.max_length, self._cache_length(requests))
        return slots * length * self.kv_bytes_per_position

    def _step(self, joining: list[BatchRequest]) -> None:
        """One pass over the weights: the prompts of the joining requests (prefill: each gets its
        first token) and one token for every other live request."""
        with self._lock:
            live = [r for r in self._live.values() if not r.signal.stopped]
        starting = [r for r in live if r in joining]
        decoding = [r for r in live if r not in joining and r.next_token is not None]
        rows = starting + decoding
        if not rows:
            return
        tokens, slots = [], []
        for request in starting:
            self.decoder.positions[request.slot] = 0
            tokens += request.prompt_ids
            slots += [request.slot] * len(request.prompt_ids)
        for request in decoding:
            tokens.append(request.next_token)
            slots.append(request.slot)
        logits = self.decoder.decode_rows(tokens, slots)  # (len(rows), V)
        if decoding:
            self.decode_steps += 1
            self.decoded_rows += len(decoding)
        for request, row in zip(rows, logits):
            self._advance(request, row)

    def _advance(self, request: BatchRequest, logits: torch.Tensor) -> None:
        """The request's next Step from its logits; a finished or failed request leaves the batch."""
        try:
            step = request.sequence.advance(logits)
        except Exception as error:  # noqa: BLE001 - this request's own failure (e.g. its constraint)
            self._leave(request)
            request._fail(error)
            return
        request.next_token = step.id
        if step.finish_reason:
            self._leave(request)
        request._put(step)

    def _leave(self, request: BatchRequest) -> None:
        with self._lock:
            if self._live.get(request.slot) is request:
                del self._live[request.slot]


def scheduler_for(model, backend: str = "fast") -> BatchScheduler:
    """The batching scheduler of a zoo model (or folder) on a fast backend ("fast", "fast-bf16",
    "fast-int8", "fast-int4"), held by the model store next to the weights it decodes with: every
    face that batches this (model, precision) shares one scheduler, hence one batch."""
    from llm_playground import store, zoo
    from llm_playground.generation.backends import FAST_PRECISIONS, fast_weights

    if backend not in FAST_PRECISIONS:
        raise PlaygroundError(f"batching runs on the fast engine; backend must be one of "
                              f"{', '.join(FAST_PRECISIONS)} (got {backend!r})")
    spec = model if isinstance(model, zoo.ModelSpec) else zoo.resolve(model)
    if spec.architecture != "llama":
        raise PlaygroundError(f"the fast engine implements the Llama family, not {spec.architecture} ({spec.name})")
    precision = FAST_PRECISIONS[backend]
    return store.models.get(spec.name, "batched", precision, lambda: BatchScheduler(
        fast_weights(spec.name, precision), zoo.load_tokenizer(spec), eos_ids=zoo.eos_token_ids(spec),
        name=spec.name))


def batches(spec, backend: str, config: GenerationConfig) -> bool:
    """Whether a request runs in a batch: a Llama-family model on a fast backend, not beam search."""
    from llm_playground.generation.backends import FAST_PRECISIONS

    return backend in FAST_PRECISIONS and spec.architecture == "llama" and config.strategy != "beam"


class BatchingEngine:
    """The server's `serving.engine.Engine` with continuous batching: requests for a fast-engine model
    share that model's `BatchScheduler`; any other request (native, hf, beam search) runs on the
    plain generator through `SerialEngine`."""

    def __init__(self, fallback=None) -> None:
        """
        Args:
            fallback: the Engine for requests that do not batch (default: `SerialEngine()`).
        """
        from llm_playground.serving.engine import SerialEngine

        self.fallback = fallback if fallback is not None else SerialEngine()
        self._schedulers: "weakref.WeakSet[BatchScheduler]" = weakref.WeakSet()  # the store holds them

    def stream(self, request) -> Iterator[Step]:
        """The steps of an `EngineRequest` (see serving/engine.py for the contract)."""
        if not batches(request.spec, request.backend, request.config):
            yield from self.fallback.stream(request)
            return
        scheduler = scheduler_for(request.spec, request.backend)
        self._schedulers.add(scheduler)
        yield from scheduler.generate(request.prompt_ids, request.config, signal=request.signal,
                                      eos_ids=request.eos_ids)

    def queue_depth(self) -> int:
        return self.fallback.queue_depth() + sum(s.waiting for s in list(self._schedulers))

    def running(self) -> int:
        return self.fallback.running() + sum(s.live for s in list(self._schedulers))
