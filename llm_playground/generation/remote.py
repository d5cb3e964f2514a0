"""Generate with a remote model: any OpenAI-compatible server or Anthropic's Messages API, through
the official `openai` and `anthropic` clients, streamed as the same `Step`s the local generator
yields, so every face (CLI, page, compare, chat) shows a remote model like a local one.

    run = start_generation("openai@http://127.0.0.1:8000/v1:smollm2-135m-instruct", "Hi", config)
    for step in run.steps: ...

- Names are parsed in `zoo.remote` (no network). A request goes only to the URL in the name (or the
  provider's own service for `openai:` / `anthropic:`); nothing is contacted at import or start-up.
- The key is read from `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` when the request is sent, handed to
  the client, and never stored on any object of ours, logged, or put in a message.
- Where the server returns log-probabilities (OpenAI's `logprobs` + `top_logprobs`), each token is a
  Step with its probability and alternatives (one distribution: the server's, so `logprob` and
  `raw_logprob` are equal). Where it does not, each streamed piece is a Step whose `has_logprob` is
  False, and `RemoteStatus.logprobs_note` says why; faces say so instead of drawing zeros.
- A remote model has no local tokenizer: everything that needs the model's logits or token ids
  (beam search, token-level constraints, bad words, …) is refused up front, naming the field.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import StopSignal
from llm_playground.generation.chat import Message, PreparedPrompt, check_prompt_text
from llm_playground.generation.config import GenerationConfig
from llm_playground.generation.generator import Alternative, Step
from llm_playground.zoo.registry import ModelSpec
from llm_playground.zoo.remote import RemoteTarget

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection, and then for each next piece of the stream
(`LLMPG_REMOTE_TIMEOUT` changes it)."""
NO_KEY = "no-key"
"""Sent as the key to a named server when the key variable is not set (servers without keys ignore it)."""
FINISH_REASONS = {"stop": "eos", "end_turn": "eos", "length": "length", "max_tokens": "length",
                  "stop_sequence": "stop"}
"""The providers' finish reasons → ours ("eos", "stop", "length"); others are passed through."""


def timeout_seconds() -> float:
    """The timeout of remote requests: `LLMPG_REMOTE_TIMEOUT` (seconds) or DEFAULT_TIMEOUT."""
    value = os.environ.get("LLMPG_REMOTE_TIMEOUT", "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise PlaygroundError(f"LLMPG_REMOTE_TIMEOUT must be a number of seconds above 0 (got {value!r})")
    return seconds


@dataclass
class RemoteStatus:
    """What a remote run learns besides its text, filled in as its steps are read."""

    target: RemoteTarget
    logprobs_note: str = ""
    """Why per-token probabilities are missing ("" while every step has them)."""
    usage: dict = field(default_factory=dict)
    """The server's token counts, when it sends them: prompt_tokens, completion_tokens."""


# --- what a remote model cannot do -----------------------------------------------------------------

def _unavailable(spec: ModelSpec, what: str, why: str, hint: str) -> PlaygroundError:
    return PlaygroundError(f"{what} is unavailable for remote model {spec.name}: {why}; {hint}")


def check_remote_request(spec: ModelSpec, config: GenerationConfig, *, raw: bool = False, backend: str = "auto",
                         allow_special: bool = False) -> None:
    """Refuse, naming the field, every setting a remote API cannot honour (before any network)."""
    target = spec.remote
    no_tokens = "the model's tokenizer and logits stay on the server"
    if backend != "auto":
        raise _unavailable(spec, f"backend {backend!r}", "it names a local engine, and this model runs on its server",
                           "leave backend as auto")
    if config.strategy == "beam" or config.num_beams != 1:
        raise _unavailable(spec, "strategy 'beam' (num_beams)", f"beam search scores every beam with the model's "
                           f"logits at each step, and {no_tokens}", "use greedy or sample")
    if config.bad_words:
        raise _unavailable(spec, "bad_words", f"banning words needs token ids, and {no_tokens}", "remove bad_words")
    if config.no_repeat_ngram_size:
        raise _unavailable(spec, "no_repeat_ngram_size", f"it works on token ids, and {no_tokens}",
                           "set it to 0 (frequency_penalty or presence_penalty work remotely)")
    if config.typical_p != 1.0:
        raise _unavailable(spec, "typical_p", "the OpenAI and Anthropic APIs have no such parameter",
                           "use top_p or min_p")
    if not config.stop_at_eos:
        raise _unavailable(spec, "stop_at_eos=False", "the server always stops at the model's end of turn",
                           "leave stop_at_eos on")
    if allow_special:
        raise _unavailable(spec, "allow_special", "the server encodes the text with its own tokenizer",
                           "leave allow_special off")
    if config.constraint is not None:
        kind = config.constraint.kind
        if target.provider == "anthropic" or kind not in ("json_schema", "json_object"):
            raise _unavailable(spec, f"constraint ({kind})", f"token-level constraints need the model's logits, and "
                               f"{no_tokens}", "an OpenAI-compatible model takes json_schema or json_object "
                               "(sent as response_format)" if target.provider == "openai" else "drop the constraint")
        if raw:
            raise _unavailable(spec, "constraint with raw", "response_format belongs to the chat endpoint",
                               "drop raw")
    if target.provider == "anthropic":
        if raw:
            raise _unavailable(spec, "raw", "Anthropic's API has messages only, no plain-text completions",
                               "drop raw")
        for name, off in (("frequency_penalty", 0.0), ("presence_penalty", 0.0), ("repetition_penalty", 1.0),
                          ("min_p", 0.0)):
            if getattr(config, name) != off:
                raise _unavailable(spec, name, "Anthropic's Messages API has no such parameter", f"set it to {off:g}")
        if config.seed is not None and not config.is_greedy:
            raise _unavailable(spec, "seed", "Anthropic's Messages API cannot be seeded", "leave seed empty")
        if not config.is_greedy and config.temperature > 1:
            raise _unavailable(spec, f"temperature {config.temperature:g}", "Anthropic's API takes 0 to 1",
                               "use a temperature of at most 1")
    elif target.official:
        for name, off in (("top_k", 0), ("min_p", 0.0), ("repetition_penalty", 1.0)):
            if getattr(config, name) != off:
                raise _unavailable(spec, name, "OpenAI's API has no such parameter (vLLM, llama-server and "
                                   "llmpg serve take it: name one with openai@URL:MODEL)", f"set it to {off:g}")


# --- the request -----------------------------------------------------------------------------------

def _conversation(prompt: str | list[Message], system: str | None) -> list[Message]:
    if isinstance(prompt, str):
        check_prompt_text(prompt)
        return ([Message("system", system)] if system else []) + [Message("user", prompt)]
    messages = list(prompt)
    if not messages or not messages[-1].content.strip():
        raise PlaygroundError("the message is empty; type something to say")
    return messages


def render_messages(target: RemoteTarget, messages: list[Message]) -> str:
    """What a remote chat model receives, for people to read: the server applies the chat template."""
    lines = [f"[{target.api} chat messages to {target.base_url}; the server applies {target.model}'s chat template]"]
    lines += [f"{m.role}: {m.content}" for m in messages]
    return "\n".join(lines)


def prepare_remote(spec: ModelSpec, prompt: str | list[Message], *, system: str | None, raw: bool) -> PreparedPrompt:
    """The prompt as the API receives it: chat messages, or (raw) the text for /v1/completions.
    No ids: the tokens are counted by the server."""
    messages = _conversation(prompt, system)
    if raw:
        text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in messages)
        return PreparedPrompt(text=text, ids=[], templated=False, messages=messages)
    return PreparedPrompt(text=render_messages(spec.remote, messages), ids=[], templated=True, messages=messages)


def _api_key(target: RemoteTarget) -> str:
    key = os.environ.get(target.key_variable, "").strip()
    if key:
        return key
    if target.official:
        raise PlaygroundError(f"{target.name} needs an API key: set {target.key_variable} (it is read from the "
                              "environment only, never saved)")
    return NO_KEY


def _one_line(text: str, key: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    if key and key != NO_KEY:
        text = text.replace(key, "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return str(getattr(error, "message", "") or error)


def describe_error(error: BaseException, target: RemoteTarget, key: str, timeout: float) -> PlaygroundError:
    """One line for what went wrong talking to `target` (no key, no traceback)."""
    import anthropic
    import openai

    where = target.base_url
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    if isinstance(error, (openai.APITimeoutError, anthropic.APITimeoutError)) or "Timeout" in name:
        return PlaygroundError(f"{where} did not answer within {timeout:g} s (LLMPG_REMOTE_TIMEOUT); check that the "
                               "server is up and not overloaded")
    if isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError)) or status is None:
        cause = error.__cause__ or error.__context__ or error
        reason = _one_line(str(cause) or type(cause).__name__, key, 160)
        return PlaygroundError(f"cannot reach {where} ({reason}); check that the server is running and that the URL "
                               f"in the model name is right")
    detail = _one_line(_server_message(error), key)
    if status == 401:
        told = "none is set" if key == NO_KEY else f"the key in {target.key_variable} was refused"
        return PlaygroundError(f"{where} refused the request as unauthorised (401: {told}); set "
                               f"{target.key_variable} to a key this server accepts")
    if status == 403:
        return PlaygroundError(f"{where} refused access (403: {detail}); the key in {target.key_variable} lacks "
                               "permission for this model")
    if status == 404:
        hint = "the model name and the URL (an OpenAI-compatible URL ends with /v1)" if target.provider == "openai" \
            else "the model name and the URL (Anthropic's is the server root, without /v1)"
        return PlaygroundError(f"{where} answered 404 for model {target.model!r} ({detail}); check {hint}")
    if status == 429:
        return PlaygroundError(f"{where} is rate-limiting this key (429: {detail}); wait and try again")
    return PlaygroundError(f"{where} refused the request ({status}: {detail})")


@contextlib.contextmanager
def _api_errors(target: RemoteTarget, key: str, timeout: float):
    """Turn the clients' and the transport's exceptions into one-line PlaygroundErrors."""
    import anthropic
    import httpx2
    import openai

    try:
        yield
    except (openai.APIError, anthropic.APIError, httpx2.HTTPError) as error:
        raise describe_error(error, target, key, timeout) from None


def _mentions_logprobs(error: Any) -> bool:
    return getattr(error, "status_code", None) in (400, 422) and "logprob" in _server_message(error).lower()


# --- streams → steps -------------------------------------------------------------------------------

@dataclass
class _Piece:
    """One token (with its log-probability) or one streamed text piece (without)."""

    text: str
    token: str
    logprob: float = math.nan
    alternatives: list[Alternative] = field(default_factory=list)


def _pieces(text: str, entries: list[tuple[str, float, list[Alternative]]]) -> list[_Piece]:
    """A chunk's text and its per-token entries as pieces: one per token when the tokens spell the
    text, else the whole text on the first token (a character split over tokens)."""
    if not entries:
        return [_Piece(text, text)] if text else []
    spelled = "".join(token for token, _, _ in entries) == text
    return [_Piece(token if spelled else (text if i == 0 else ""), token, logprob, alternatives)
            for i, (token, logprob, alternatives) in enumerate(entries)]


def _alternatives(pairs) -> list[Alternative]:
    return [Alternative(-1, token, math.exp(logprob)) for token, logprob in pairs
            if logprob is not None and math.isfinite(logprob)]


def _steps_from(pieces: Iterator[_Piece], status: RemoteStatus, signal: StopSignal | None,
                finish: dict) -> Iterator[Step]:
    """Steps from pieces, one behind so that the last one carries the finish reason."""
    started = time.perf_counter()
    pending: Step | None = None
    index = 0
    for piece in pieces:
        step = Step(index=index, id=-1, text=piece.text, token=piece.token, logprob=piece.logprob,
                    raw_logprob=piece.logprob, top_before=piece.alternatives, top_after=piece.alternatives,
                    elapsed=time.perf_counter() - started)
        index += 1
        if pending is not None:
            yield pending
        pending = step
        if signal is not None:
            signal.check()
    if pending is None:  # the server sent no text at all
        pending = Step(index=0, id=-1, text="", token="", logprob=math.nan, raw_logprob=math.nan,
                       elapsed=time.perf_counter() - started)
    reason = finish.get("reason")
    pending.finish_reason = FINISH_REASONS.get(reason, reason) if reason else "eos"
    pending.elapsed = time.perf_counter() - started
    if not status.logprobs_note and not pending.has_logprob:
        status.logprobs_note = (f"{status.target.base_url} returned no per-token probabilities (logprobs) for "
                                f"{status.target.model}")
    yield pending


def _openai_params(target: RemoteTarget, config: GenerationConfig, raw: bool) -> dict:
    params: dict[str, Any] = {"model": target.model}
    params["max_completion_tokens" if target.official and not raw else "max_tokens"] = config.max_new_tokens
    if config.is_greedy:
        params["temperature"] = 0.0
    else:
        params["temperature"] = config.temperature
        if config.top_p != 1.0:
            params["top_p"] = config.top_p
        if config.seed is not None:
            params["seed"] = config.seed
    if config.stop:
        params["stop"] = list(config.stop)
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(config, name):
            params[name] = getattr(config, name)
    extra = {}  # sampling knobs of vLLM, llama-server and llmpg serve (OpenAI's own API has none)
    if config.top_k and not config.is_greedy:
        extra["top_k"] = config.top_k
    if config.min_p and not config.is_greedy:
        extra["min_p"] = config.min_p
    if config.repetition_penalty != 1.0:
        extra["repetition_penalty"] = config.repetition_penalty
    if extra:
        params["extra_body"] = extra
    constraint = config.constraint
    if constraint is not None:
        params["response_format"] = ({"type": "json_object"} if constraint.kind == "json_object" else
                                     {"type": "json_schema", "json_schema": {"name": "output", "strict": True,
                                                                             "schema": constraint.value}})
    return params


def _openai_pieces(stream, raw: bool, status: RemoteStatus, finish: dict) -> Iterator[_Piece]:
    for chunk in stream:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            status.usage = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.finish_reason:
            finish["reason"] = choice.finish_reason
        entries = []
        logprobs = getattr(choice, "logprobs", None)
        if raw:
            text = choice.text or ""
            if logprobs is not None and logprobs.tokens:
                tops = logprobs.top_logprobs or [None] * len(logprobs.tokens)
                entries = [(token, value, _alternatives((top or {}).items()))
                           for token, value, top in zip(logprobs.tokens, logprobs.token_logprobs, tops)
                           if value is not None]
        else:
            text = choice.delta.content or "" if choice.delta is not None else ""
            if logprobs is not None and logprobs.content:
                entries = [(entry.token, entry.logprob,
                            _alternatives((top.token, top.logprob) for top in entry.top_logprobs or []))
                           for entry in logprobs.content]
        yield from _pieces(text, entries)


def _openai_steps(target: RemoteTarget, prepared: PreparedPrompt, config: GenerationConfig, raw: bool,
                  status: RemoteStatus, signal: StopSignal | None) -> Iterator[Step]:
    import openai

    key, timeout = _api_key(target), timeout_seconds()
    with _api_errors(target, key, timeout):
        client = openai.OpenAI(api_key=key, base_url=target.base_url, timeout=timeout, max_retries=0)
        del key  # the client holds it for its requests; nothing of ours does
        try:
            params = _openai_params(target, config, raw)
            if raw:
                create, body = client.completions.create, {"prompt": prepared.text}
                wanted = {"logprobs": config.top_alternatives}
            else:
                create = client.chat.completions.create
                body = {"messages": [{"role": m.role, "content": m.content} for m in prepared.messages]}
                wanted = {"logprobs": True, **({"top_logprobs": config.top_alternatives}
                                               if config.top_alternatives else {})}
            request = {**params, **body, "stream": True, "stream_options": {"include_usage": True}}
            if signal is not None:
                signal.check()
            try:
                stream = create(**request, **wanted)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                if not _mentions_logprobs(error):
                    raise
                status.logprobs_note = (f"{target.base_url} refused logprobs ({_one_line(_server_message(error), '')}"
                                        "), so per-token probabilities are unavailable")
                stream = create(**request)
            finish: dict = {}
            try:
                yield from _steps_from(_openai_pieces(stream, raw, status, finish), status, signal, finish)
            finally:
                stream.close()  # a stopped run frees the server's slot at once
        finally:
            client.close()


def _anthropic_pieces(stream, status: RemoteStatus, finish: dict) -> Iterator[_Piece]:
    for event in stream:
        kind = getattr(event, "type", "")
        if kind == "message_start":
            usage = getattr(event.message, "usage", None)
            if usage is not None:
                status.usage["prompt_tokens"] = usage.input_tokens
        elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
            if event.delta.text:
                yield _Piece(event.delta.text, event.delta.text)
        elif kind == "message_delta":
            if event.delta.stop_reason:
                finish["reason"] = event.delta.stop_reason
            if getattr(event, "usage", None) is not None:
                status.usage["completion_tokens"] = event.usage.output_tokens


def _anthropic_steps(target: RemoteTarget, prepared: PreparedPrompt, config: GenerationConfig,
                     status: RemoteStatus, signal: StopSignal | None) -> Iterator[Step]:
    import anthropic

    key, timeout = _api_key(target), timeout_seconds()
    status.logprobs_note = "Anthropic's Messages API does not return per-token probabilities"
    with _api_errors(target, key, timeout):
        client = anthropic.Anthropic(api_key=key, base_url=target.base_url, timeout=timeout, max_retries=0)
        del key
        try:
            system = "\n\n".join(m.content for m in prepared.messages if m.role == "system")
            request: dict[str, Any] = {
                "model": target.model, "max_tokens": config.max_new_tokens, "stream": True,
                "messages": [{"role": m.role, "content": m.content} for m in prepared.messages if m.role != "system"]}
            if system:
                request["system"] = system
            if config.stop:
                request["stop_sequences"] = list(config.stop)
            # The anthropic 2.x client no longer lists the sampling fields, but the Messages API and its
            # compatible servers (llama-server, llmpg serve) still read them from the body.
            sampling: dict[str, Any] = {"temperature": 0.0 if config.is_greedy else config.temperature}
            if not config.is_greedy and config.top_p != 1.0:
                sampling["top_p"] = config.top_p
            if not config.is_greedy and config.top_k:
                sampling["top_k"] = config.top_k
            request["extra_body"] = sampling
            if signal is not None:
                signal.check()
            stream = client.messages.create(**request)
            finish: dict = {}
            try:
                yield from _steps_from(_anthropic_pieces(stream, status, finish), status, signal, finish)
            finally:
                stream.close()
        finally:
            client.close()


def remote_steps(spec: ModelSpec, prepared: PreparedPrompt, config: GenerationConfig, status: RemoteStatus, *,
                 raw: bool = False, signal: StopSignal | None = None) -> Iterator[Step]:
    """The streamed steps of a remote generation (the request is sent when the first step is asked for)."""
    if spec.remote.provider == "anthropic":
        return _anthropic_steps(spec.remote, prepared, config, status, signal)
    return _openai_steps(spec.remote, prepared, config, raw, status, signal)
