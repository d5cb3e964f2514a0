"""The API face: OpenAI's and Anthropic's HTTP shapes over the library (FastAPI).

    app = create_app(ServedModels.from_names(["smollm2-135m-instruct", "minilm-l6"]), api_key=None)

Each route converts its body into the library's objects (`prepare`), runs every choice through the
one generation door (`engine.Engine.stream`, in worker threads), and renders the `Step`s that come
back as OpenAI or Anthropic JSON, or as server-sent events. Nothing here decides about tokens.

- Errors are OpenAI's body (Anthropic's on /v1/messages) with the right status; a bug is a 500 with
  the same body and no traceback (the traceback goes to the server's log).
- A client that goes away (mid-stream or while waiting) stops its generations within one model
  step, and their slots are free at once.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import math
import threading
import time
import uuid
from typing import AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import GenerationStopped
from llm_playground.generation.generator import Step
from llm_playground.serving import schemas
from llm_playground.serving.engine import Engine, EngineRequest, SerialEngine
from llm_playground.serving.errors import ApiError, from_library, from_validation
from llm_playground.serving.metrics import Metrics
from llm_playground.serving.prepare import Plan, ServedModels, prepare_chat, prepare_completion, prepare_messages
from llm_playground.serving.tools import ToolCallStream

log = logging.getLogger("llm_playground.serving")

DEFAULT_TIME_LIMIT = 600.0
"""Seconds one generation may run before it is stopped."""
_DONE = object()
_SSE = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

OPENAI_ERRORS = {400: {"model": schemas.ErrorBody, "description": "a bad parameter (named in error.param), or "
                                                                   "context_length_exceeded"},
                 401: {"model": schemas.ErrorBody, "description": "a key is configured and none or a wrong one "
                                                                   "was sent"},
                 404: {"model": schemas.ErrorBody, "description": "a model this server does not serve"}}
ANTHROPIC_ERRORS = {status: {"model": schemas.AnthropicErrorBody, "description": answer["description"]}
                    for status, answer in OPENAI_ERRORS.items()}


def _streamable(model) -> dict:
    return {200: {"model": model, "content": {"text/event-stream": {"schema": {"type": "string"}}},
                  "description": "JSON, or server-sent events with stream: true"}}


def _is_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def error_response(error: ApiError, path: str) -> JSONResponse:
    body = error.anthropic() if _is_anthropic(path) else error.openai()
    return JSONResponse(body, status_code=error.status)


# --- running generations from the event loop -----------------------------------------------------

async def run_requests(engine: Engine, requests: list[EngineRequest], *,
                       on_step: Callable[[EngineRequest, Step], None] | None = None) -> AsyncIterator[tuple[int, Step]]:
    """(choice index, step) as the engine yields them, every choice in its own worker thread.

    When the consumer stops early (a disconnect cancels it), every choice's signal is stopped: each
    generation ends within one model step and frees its slot."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def work(index: int, request: EngineRequest) -> None:
        try:
            for step in engine.stream(request):
                if on_step is not None:
                    on_step(request, step)
                put((index, step))
                if request.signal.stopped:
                    break
        except BaseException as error:  # noqa: BLE001 - handed to the consuming coroutine
            put((index, error))
        finally:
            put((index, _DONE))

    for index, request in enumerate(requests):
        threading.Thread(target=work, args=(index, request), name="llmpg-serve-generation", daemon=True).start()
    remaining = len(requests)
    try:
        while remaining:
            index, item = await queue.get()
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield index, item
    finally:
        for request in requests:
            request.signal.stop("stopped: the client went away")


CLIENT_GONE = 499
"""nginx's status for a request whose client closed the connection (nobody reads it)."""


async def guarded(request: Request, coroutine):
    """Await `coroutine`, cancelling it if the client goes away first (its generations then stop)."""
    task = asyncio.ensure_future(coroutine)
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ApiError(CLIENT_GONE, "the client closed the request", type="client_closed_request")


class EventStream(StreamingResponse):
    """Server-sent events whose generator is closed as soon as the response ends, however it ends
    (a client that went away makes `send` fail): closing it stops the generations at once."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()


class Started:
    """A stream whose first step has arrived (or that failed before it), so that an error before the
    first token is still a proper HTTP status, not an event in a 200 stream."""

    def __init__(self, stream: AsyncIterator[tuple[int, Step]]) -> None:
        self.stream = stream
        self.first: tuple[int, Step] | None = None

    async def start(self) -> "Started":
        try:
            self.first = await self.stream.__anext__()
        except StopAsyncIteration:
            self.first = None
        return self

    async def __aiter__(self):
        if self.first is not None:
            yield self.first
        async for item in self.stream:
            yield item

    async def aclose(self) -> None:
        await self.stream.aclose()


def _library_error(error: Exception) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, GenerationStopped):
        return ApiError(408 if "time limit" in str(error) else 499, str(error), type="timeout_error")
    if isinstance(error, PlaygroundError):
        return from_library(error)
    log.exception("internal error while generating", exc_info=error)
    return ApiError(500, f"internal error: {type(error).__name__} (a bug in llm-playground; the server log has "
                         "the details)", type="server_error")


# --- rendering steps --------------------------------------------------------------------------------

def _finish(step: Step | None, *, tool_call: bool = False) -> str | None:
    if step is None or step.finish_reason is None:
        return None
    if step.finish_reason == "length":
        return "length"
    return "tool_calls" if tool_call else "stop"


class Renderer:
    """Token details in OpenAI's shapes, for one served model."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._tokenizer = None

    def token_bytes(self, token_id: int, text: str) -> list[int]:
        if self._tokenizer is None:
            from llm_playground.tokenizers.registry import zoo_tokenizer

            self._tokenizer = zoo_tokenizer(self.plan.spec.name)
        data = self._tokenizer.token_bytes(token_id)
        return list(data if data is not None else text.encode("utf-8"))

    def shows(self, step: Step) -> bool:
        """Logprobs list every generated token except the end-of-sequence marker (it has no text)."""
        return not (step.finish_reason == "eos" and step.id in self.plan.eos_ids)

    def chat_logprob(self, step: Step) -> dict:
        """OpenAI's {token, logprob, bytes, top_logprobs}: the model's own distribution (before
        temperature and the other processors), as `llmpg next-token` shows it."""
        return {"token": step.token, "logprob": step.raw_logprob, "bytes": self.token_bytes(step.id, step.token),
                "top_logprobs": [{"token": a.text, "logprob": math.log(a.prob), "bytes": self.token_bytes(a.id, a.text)}
                                 for a in step.top_before[: self.plan.logprobs or 0]]}

    def completion_logprobs(self, steps: list[Step], offset: int = 0) -> dict:
        """The legacy completions shape: parallel lists, top_logprobs as {token: logprob}."""
        shown = [s for s in steps if self.shows(s)]
        offsets, position = [], offset
        for step in shown:
            offsets.append(position)
            position += len(step.text)
        return {"tokens": [s.token for s in shown], "token_logprobs": [s.raw_logprob for s in shown],
                "top_logprobs": [_first_of_each(s.top_before[: self.plan.logprobs or 0]) for s in shown],
                "text_offset": offsets}


def _first_of_each(alternatives) -> dict[str, float]:
    """{token text: logprob}: two tokens that print alike (two halves of different characters both
    show as "\ufffd") share a key, and the more likely one keeps it."""
    table: dict[str, float] = {}
    for alternative in alternatives:
        table.setdefault(alternative.text, math.log(alternative.prob))
    return table


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(data) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _event(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _which_stop(plan: Plan, steps: list[Step], text: str) -> str | None:
    """The stop string that ended a generation (the generator cuts the text before it)."""
    from llm_playground import zoo

    full = zoo.load_tokenizer(plan.spec).decode([s.id for s in steps])
    rest = full[len(text):] if full.startswith(text) else full
    found = [(rest.find(stop), stop) for stop in plan.configs[0].stop if stop in rest]
    return min(found)[1] if found else None


# --- the app ------------------------------------------------------------------------------------

def create_app(models: ServedModels, *, api_key: str | None = None, engine: Engine | None = None,
               time_limit: float | None = DEFAULT_TIME_LIMIT) -> "ApiGate":
    """The API server's app. `api_key`: every /v1 route then needs `Authorization: Bearer KEY` (or
    Anthropic's `x-api-key: KEY`). `engine`: what generates (default: `SerialEngine()`).
    Returns the ASGI app (the FastAPI app wrapped by the key check; `.app` is the FastAPI app)."""
    engine = engine or SerialEngine()
    metrics = Metrics(engine)
    app = FastAPI(title="llm-playground API", version="1",
                  description="OpenAI- and Anthropic-compatible API over llm-playground's models.")
    app.state.models = models
    app.state.engine = engine
    app.state.metrics = metrics
    started_at = int(time.time())

    # --- errors ---
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return error_response(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return error_response(from_validation(list(error.errors())), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        message = {404: f"no route {request.url.path}; see /docs", 405: f"{request.method} is not allowed on "
                   f"{request.url.path}"}.get(error.status_code, str(error.detail))
        return error_response(ApiError(error.status_code, message), request.url.path)

    @app.exception_handler(PlaygroundError)
    async def library_error(request: Request, error: PlaygroundError):
        return error_response(from_library(error), request.url.path)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception):
        return error_response(_library_error(error), request.url.path)

    # --- plain routes ---
    @app.get("/health", response_model=schemas.Health)
    async def health():
        return {"status": "ok", "models": list(models.specs), "running": engine.running(),
                "waiting": engine.queue_depth()}

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text format"}})
    async def prometheus():
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/models", response_model=schemas.ModelList, responses={401: OPENAI_ERRORS[401]})
    async def list_models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": started_at,
                                            "owned_by": "llm-playground"} for name in models.specs]}

    @app.get("/v1/models/{model}", response_model=schemas.ModelCard, responses=OPENAI_ERRORS)
    async def get_model(model: str):
        models.get(model, purpose="any")
        return {"id": model, "object": "model", "created": started_at, "owned_by": "llm-playground"}

    # --- embeddings ---
    @app.post("/v1/embeddings", response_model=schemas.EmbeddingList, responses=OPENAI_ERRORS)
    async def embeddings(body: schemas.EmbeddingRequest, request: Request):
        spec = models.get(body.model, purpose="embed")
        texts = [body.input] if isinstance(body.input, str) else list(body.input)

        def encode():
            from llm_playground.embeddings.sentences import check_texts, encode

            try:
                check_texts(texts, "input")
            except PlaygroundError as error:
                raise ApiError(400, str(error), param="input") from None
            return encode(texts, spec.name)

        import anyio

        encoded = await guarded(request, anyio.to_thread.run_sync(encode))
        vectors = encoded.vectors.numpy()
        if body.dimensions is not None and body.dimensions != vectors.shape[1]:
            raise ApiError(400, f"dimensions: {body.model} makes {vectors.shape[1]}-dimensional vectors "
                                f"(got {body.dimensions}); leave dimensions out", param="dimensions")
        data = []
        for index, vector in enumerate(vectors):
            value = (base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                     if body.encoding_format == "base64" else [float(x) for x in vector])
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(encoded.token_counts)
        metrics.prompt_tokens.labels(body.model).inc(tokens)
        return {"object": "list", "data": data, "model": body.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # --- generation ---
    async def start(request: Request, plans: list[Plan]) -> tuple[Started, float]:
        """Start every choice of every plan; wait for the first step (an early error is a status)."""
        arrived = time.perf_counter()
        requests = [r for plan in plans for r in plan.requests()]
        model = plans[0].model
        stream = Started(run_requests(engine, requests,
                                      on_step=lambda _, step: metrics.generation_tokens.labels(model).inc()))
        try:
            await guarded(request, stream.start())
        except Exception as error:  # noqa: BLE001 - becomes the response's status and body
            await stream.aclose()
            raise _library_error(error) from None
        if stream.first is not None:
            metrics.time_to_first_token.labels(plans[0].model).observe(time.perf_counter() - arrived)
        for plan in plans:
            metrics.prompt_tokens.labels(plan.model).inc(len(plan.prompt.ids) * len(plan.configs))
        return stream, arrived

    async def collect(request: Request, stream: Started, choices: int) -> list[list[Step]]:
        steps: list[list[Step]] = [[] for _ in range(choices)]

        async def consume():
            async for index, step in stream:
                steps[index].append(step)

        try:
            await guarded(request, consume())
        except Exception as error:  # noqa: BLE001
            raise _library_error(error) from None
        finally:
            await stream.aclose()
        return steps

    def prepare(function, body):
        try:
            return function(models, body, time_limit=time_limit)
        except PlaygroundError as error:
            raise from_library(error) from None

    @app.post("/v1/chat/completions", responses={**_streamable(schemas.ChatCompletion), **OPENAI_ERRORS})
    async def chat_completions(body: schemas.ChatCompletionRequest, request: Request):
        import anyio

        plan = await anyio.to_thread.run_sync(prepare, prepare_chat, body)
        stream, _ = await start(request, [plan])
        identity = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
        renderer = Renderer(plan)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return EventStream(_chat_events(stream, plan, renderer, identity, include_usage),
                                     media_type="text/event-stream", headers=_SSE)
        results = await collect(request, stream, len(plan.configs))
        choices, generated = [], 0
        for index, steps in enumerate(results):
            generated += len(steps)
            text = "".join(s.text for s in steps)
            message: dict = {"role": "assistant", "content": text}
            call = None
            if plan.tools is not None:
                reader = ToolCallStream()
                reader.feed(text)
                reader.finish()
                if reader.kind == "call" and reader.name is not None:
                    call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                            "function": {"name": reader.name, "arguments": reader.arguments}}
                    message = {"role": "assistant", "content": None, "tool_calls": [call]}
            choice = {"index": index, "message": message,
                      "finish_reason": _finish(steps[-1] if steps else None, tool_call=call is not None),
                      "logprobs": None}
            if plan.logprobs is not None:
                choice["logprobs"] = {"content": [renderer.chat_logprob(s) for s in steps if renderer.shows(s)],
                                      "refusal": None}
            choices.append(choice)
        return {**identity, "object": "chat.completion", "choices": choices,
                "usage": _usage(len(plan.prompt.ids), generated), "system_fingerprint": None}

    async def _chat_events(stream: Started, plan: Plan, renderer: Renderer, identity: dict, include_usage: bool):
        base = {**identity, "object": "chat.completion.chunk", "system_fingerprint": None}
        usage_field = {"usage": None} if include_usage else {}
        readers = [ToolCallStream() if plan.tools is not None else None for _ in plan.configs]
        call_ids = [f"call_{uuid.uuid4().hex[:24]}" for _ in plan.configs]
        begun = [False] * len(plan.configs)
        generated = 0

        def chunk(index: int, delta: dict, finish: str | None = None, logprobs=None) -> bytes:
            return _sse({**base, "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                                              "finish_reason": finish}], **usage_field})

        def deltas(index: int, events: list[tuple[str, str]]) -> list[dict]:
            out = []
            for kind, value in events:
                if kind == "text":
                    out.append({"content": value})
                elif kind == "name":
                    out.append({"tool_calls": [{"index": 0, "id": call_ids[index], "type": "function",
                                                "function": {"name": value, "arguments": ""}}]})
                else:
                    out.append({"tool_calls": [{"index": 0, "function": {"arguments": value}}]})
            return out

        try:
            async for index, step in stream:
                generated += 1
                if not begun[index]:
                    begun[index] = True
                    yield chunk(index, {"role": "assistant", "content": ""})
                reader = readers[index]
                events = reader.feed(step.text) if reader is not None else ([("text", step.text)] if step.text else [])
                if step.finish_reason and reader is not None:
                    events += reader.finish()
                logprobs = ({"content": [renderer.chat_logprob(step)], "refusal": None}
                            if plan.logprobs is not None and renderer.shows(step) else None)
                pieces = deltas(index, events)
                if not pieces and logprobs is not None:
                    pieces = [{}]
                for number, delta in enumerate(pieces):
                    yield chunk(index, delta, logprobs=logprobs if number == 0 else None)
                if step.finish_reason:
                    is_call = reader is not None and reader.kind == "call" and reader.name is not None
                    yield chunk(index, {}, _finish(step, tool_call=is_call))
            if include_usage:
                yield _sse({**base, "choices": [], "usage": _usage(len(plan.prompt.ids), generated)})
        except (Exception, GenerationStopped) as error:  # noqa: BLE001 - after the headers: an error event
            yield _sse(_library_error(error).openai())
        finally:
            await stream.aclose()
        yield b"data: [DONE]\n\n"

    @app.post("/v1/completions", responses={**_streamable(schemas.Completion), **OPENAI_ERRORS})
    async def completions(body: schemas.CompletionRequest, request: Request):
        import anyio

        plans = await anyio.to_thread.run_sync(prepare, prepare_completion, body)
        stream, _ = await start(request, plans)
        identity = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
        per_plan = len(plans[0].configs)
        prompt_tokens = sum(len(p.prompt.ids) for p in plans)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return EventStream(_completion_events(stream, plans, identity, include_usage, prompt_tokens),
                                     media_type="text/event-stream", headers=_SSE)
        results = await collect(request, stream, sum(len(p.configs) for p in plans))
        choices, generated = [], 0
        for index, steps in enumerate(results):
            plan = plans[index // per_plan]
            generated += len(steps)
            choices.append({"index": index, "text": "".join(s.text for s in steps),
                            "finish_reason": _finish(steps[-1] if steps else None),
                            "logprobs": Renderer(plan).completion_logprobs(steps) if plan.logprobs is not None
                            else None})
        return {**identity, "object": "text_completion", "choices": choices,
                "usage": _usage(prompt_tokens, generated), "system_fingerprint": None}

    async def _completion_events(stream: Started, plans: list[Plan], identity: dict, include_usage: bool,
                                 prompt_tokens: int):
        base = {**identity, "object": "text_completion", "system_fingerprint": None}
        usage_field = {"usage": None} if include_usage else {}
        per_plan = len(plans[0].configs)
        renderers = [Renderer(plan) for plan in plans]
        offsets: dict[int, int] = {}
        generated = 0
        try:
            async for index, step in stream:
                generated += 1
                plan_index = index // per_plan
                logprobs = None
                if plans[plan_index].logprobs is not None:
                    logprobs = renderers[plan_index].completion_logprobs([step], offsets.get(index, 0))
                offsets[index] = offsets.get(index, 0) + len(step.text)
                if step.text or step.finish_reason or logprobs is not None:
                    yield _sse({**base, "choices": [{"index": index, "text": step.text, "logprobs": logprobs,
                                                     "finish_reason": _finish(step)}], **usage_field})
            if include_usage:
                yield _sse({**base, "choices": [], "usage": _usage(prompt_tokens, generated)})
        except (Exception, GenerationStopped) as error:  # noqa: BLE001
            yield _sse(_library_error(error).openai())
        finally:
            await stream.aclose()
        yield b"data: [DONE]\n\n"

    @app.post("/v1/messages", responses={**_streamable(schemas.AnthropicResponse), **ANTHROPIC_ERRORS})
    async def messages(body: schemas.MessagesRequest, request: Request):
        import anyio

        plan = await anyio.to_thread.run_sync(prepare, prepare_messages, body)
        stream, _ = await start(request, [plan])
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        if body.stream:
            return EventStream(_message_events(stream, plan, message_id), media_type="text/event-stream",
                                     headers=_SSE)
        steps = (await collect(request, stream, 1))[0]
        text = "".join(s.text for s in steps)
        content, stop_reason = [], _anthropic_stop(steps[-1] if steps else None)
        reader = ToolCallStream()
        if plan.tools is not None:
            reader.feed(text)
            reader.finish()
        if reader.kind == "call" and reader.name is not None:
            try:
                arguments = json.loads(reader.arguments)
            except json.JSONDecodeError:
                arguments = {}
            content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": reader.name,
                            "input": arguments})
            if stop_reason == "end_turn":
                stop_reason = "tool_use"
        else:
            content.append({"type": "text", "text": text})
        stop_sequence = _which_stop(plan, steps, text) if stop_reason == "stop_sequence" else None
        return {"id": message_id, "type": "message", "role": "assistant", "model": body.model, "content": content,
                "stop_reason": stop_reason, "stop_sequence": stop_sequence,
                "usage": {"input_tokens": len(plan.prompt.ids), "output_tokens": len(steps)}}

    async def _message_events(stream: Started, plan: Plan, message_id: str):
        steps: list[Step] = []
        yield _event("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": plan.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": len(plan.prompt.ids), "output_tokens": 0}}})
        reader = ToolCallStream() if plan.tools is not None else None
        block_open, is_call = False, False
        if reader is None:
            yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                                 "content_block": {"type": "text", "text": ""}})
            block_open = True
        yield _event("ping", {"type": "ping"})
        try:
            async for _, step in stream:
                steps.append(step)
                events = reader.feed(step.text) if reader is not None else ([("text", step.text)] if step.text else [])
                if step.finish_reason and reader is not None:
                    events += reader.finish()
                for kind, value in events:
                    if not block_open:
                        is_call = kind != "text"
                        block = ({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": value,
                                  "input": {}} if is_call else {"type": "text", "text": ""})
                        yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                                             "content_block": block})
                        block_open = True
                        if is_call:
                            continue
                    if kind == "text":
                        delta = {"type": "text_delta", "text": value}
                    elif kind == "arguments":
                        delta = {"type": "input_json_delta", "partial_json": value}
                    else:
                        continue
                    yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            if not block_open:
                yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                                     "content_block": {"type": "text", "text": ""}})
            yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
            stop_reason = _anthropic_stop(steps[-1] if steps else None)
            if is_call and stop_reason == "end_turn":
                stop_reason = "tool_use"
            text = "".join(s.text for s in steps)
            stop_sequence = _which_stop(plan, steps, text) if stop_reason == "stop_sequence" else None
            yield _event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                                           "usage": {"output_tokens": len(steps)}})
            yield _event("message_stop", {"type": "message_stop"})
        except (Exception, GenerationStopped) as error:  # noqa: BLE001
            yield _event("error", _library_error(error).anthropic())
        finally:
            await stream.aclose()

    return ApiGate(app, api_key=api_key, metrics=metrics)


def _anthropic_stop(step: Step | None) -> str | None:
    if step is None:
        return None
    return {"eos": "end_turn", "stop": "stop_sequence", "length": "max_tokens"}.get(step.finish_reason or "", None)


class ApiGate:
    """The ASGI app around FastAPI: the API key on /v1 routes, and the request counter by route and
    status. (A plain ASGI wrapper, not BaseHTTPMiddleware, so streams and disconnects pass straight
    through.) Attribute access falls through to the FastAPI app (`gate.openapi()`, `gate.state`)."""

    def __init__(self, app: FastAPI, *, api_key: str | None, metrics: Metrics) -> None:
        self.app = app
        self.api_key = api_key
        self.metrics = metrics

    def __getattr__(self, name):
        return getattr(self.app, name)

    def _key_error(self, scope) -> ApiError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if given is None and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if given is None:
            return ApiError(401, "Missing API key: this server needs one; send it as 'Authorization: Bearer KEY' "
                                 "(OpenAI clients) or 'x-api-key: KEY' (Anthropic clients)",
                            type="invalid_request_error", code="invalid_api_key")
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            return ApiError(401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if self.api_key and scope["path"].startswith("/v1/"):
                error = self._key_error(scope)
                if error is not None:
                    await error_response(error, scope["path"])(scope, receive, counting_send)
                    return
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(endpoint, str(status["code"])).inc()
