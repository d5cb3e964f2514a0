"""What the tabs share: model choices, loading notes, inline messages, small HTML helpers.

Nothing here decides anything about models or numbers; it only names and draws what the library
returns.
"""
from __future__ import annotations

import functools
import html
import math
import inspect
from collections.abc import Callable, Iterable

import gradio as gr

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.tokenizers.display import visible_whitespace

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DEFAULT_BASE_MODEL = "gemma3-270m"
GENERATING_KINDS = ("chat", "base", "architecture")
MODEL_CONCURRENCY = "model"
"""Concurrency group of every event that runs a model: one at a time (the laptop has 2 cores, and a
second generation in parallel only halves the speed of both), the others wait in the queue."""


def model_label(spec: zoo.ModelSpec) -> str:
    """`"gpt2 — architecture only, no pretrained weights"`, `"gemma3-270m — base"`."""
    return f"{spec.name} — {spec.label}"


def model_choices(kinds: Iterable[str] = GENERATING_KINDS) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown: every zoo model, then every local model (a merged
    fine-tune), of the given kinds."""
    from llm_playground.zoo import local

    kinds = tuple(kinds)
    return [(model_label(spec), spec.name) for spec in [*zoo.list_models(), *local.list_local()] if spec.kind in kinds]


REMOTE_MODEL_INFO = ("or type a remote model: openai@http://127.0.0.1:8000/v1:NAME (vLLM, Ollama, llama-server, "
                     "llmpg serve…), openai:gpt-4o-mini, anthropic:NAME; keys from OPENAI_API_KEY / ANTHROPIC_API_KEY")
"""The model pickers' hint: any name the library resolves works, remote models included."""


def model_names(checked: Iterable[str] | None, typed: str | None) -> list[str]:
    """The models a multi-model picker names: the ticked ones, then each non-empty typed line (remote
    models), without repeats."""
    return list(dict.fromkeys([*(checked or []), *lines_of(typed)]))


def probability_note(steps) -> str:
    """What the page says when some tokens carry no probability (a remote server without logprobs)."""
    if all(step.has_logprob for step in steps):
        return ""
    return ("the server returned no per-token probabilities (logprobs) for this output: its tokens are not "
            "coloured, and no alternatives are shown")


def _needs_conversion(spec: zoo.ModelSpec) -> bool:
    return bool(spec.source and spec.gguf_name and not zoo.cache_dir(spec).exists())


def loading_note(names: Iterable[str]) -> str:
    """A message for models not loaded yet in this server ("" when all are loaded)."""
    pending = [name for name in dict.fromkeys(names) if name and not zoo.is_loaded(name)]
    parts = []
    for name in pending:
        spec = zoo.resolve(name)
        if spec.remote is not None:  # runs on its server: nothing to load here
            continue
        if _needs_conversion(spec):
            parts.append(f"{spec.name}: first use, converting its GGUF into the cache once (about 30–90 s)")
        else:
            parts.append(f"{spec.name}: loading into memory (a few seconds)")
    return "Loading models, once per server — " + "; ".join(parts) + "…" if parts else ""


def conversion_note(names: Iterable[str]) -> str:
    """A message for models whose shipped GGUF must be converted first ("" when none)."""
    parts = [f"{spec.name}: first use, converting its GGUF into the cache once (about 30–90 s)"
             for spec in (zoo.resolve(name) for name in dict.fromkeys(names) if name) if _needs_conversion(spec)]
    return "Preparing models, once per machine — " + "; ".join(parts) + "…" if parts else ""


def model_notes(names: Iterable[str]) -> list[str]:
    """What the user must know about these models: the Gemma Terms of Use, and that an
    architecture-only model (gpt2) has random weights, so its outputs mean nothing."""
    notes = []
    for name in dict.fromkeys(names):
        try:
            spec = zoo.resolve(name)
        except PlaygroundError:
            continue
        notice = zoo.licence_notice(spec, with_path=False)
        if notice:
            notes.append(notice)
        if spec.kind == "architecture":
            notes.append(f"{spec.name}: architecture only, no pretrained weights (random initialisation): its "
                         "probabilities and text are random, shown to see the machinery work")
    return notes


def message(text: str, kind: str = "error") -> str:
    """An inline message box: kind is "error", "info" or "busy"."""
    if not text:
        return ""
    role = "alert" if kind == "error" else "status"
    return f'<div class="llmpg-msg llmpg-{kind}" role="{role}">{escape(text)}</div>'


def messages(*items: tuple[str, str]) -> str:
    """Several message boxes, skipping empty texts: `messages(("…", "info"), ("…", "error"))`."""
    return "".join(message(text, kind) for text, kind in items if text)


def escape(text: str) -> str:
    return html.escape(str(text), quote=True)


def visible(text: str) -> str:
    """Whitespace drawn as · ↵ →, as in the CLI (tokenizers.display)."""
    return visible_whitespace(text)


def inline_errors(n_outputs: int, status_index: int = -1) -> Callable:
    """Decorate a handler so that a PlaygroundError becomes an inline message, not a crash.

    The handler's outputs other than the status are left as they were (`gr.skip()`); works for
    plain functions and for generators (streaming handlers).
    """
    def error_outputs(error: PlaygroundError):
        outputs = [gr.skip() for _ in range(n_outputs)]
        outputs[status_index] = message(str(error))
        return tuple(outputs) if n_outputs > 1 else outputs[0]

    def decorate(handler: Callable) -> Callable:
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def streaming(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except PlaygroundError as error:
                    yield error_outputs(error)
            return streaming

        @functools.wraps(handler)
        def plain(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except PlaygroundError as error:
                return error_outputs(error)
        return plain

    return decorate


def require_text(value: str | None, what: str = "prompt") -> str:
    """The text, or a PlaygroundError saying it is empty."""
    if value is None or not str(value).strip():
        raise PlaygroundError(f"the {what} is empty; type some text first")
    return str(value)


def require_number(value, what: str, *, integer: bool = False):
    """A number typed into a field, or a PlaygroundError naming the empty field."""
    if value is None or value == "":
        raise PlaygroundError(f"{what} is empty; type a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlaygroundError(f"{what} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise PlaygroundError(f"{what} must be a finite number (got {value})")
    if integer:
        if not number.is_integer():
            raise PlaygroundError(f"{what} must be a whole number (got {value})")
        return int(number)
    return number


def prob_colour(prob: float) -> str:
    """Background for a token drawn with probability `prob`: red (unlikely) → yellow → green (sure);
    grey when unknown (NaN: a remote server without logprobs)."""
    if math.isnan(prob):
        return "hsl(0, 0%, 90%)"
    hue = 120 * max(0.0, min(1.0, prob))  # 0 = red, 120 = green
    return f"hsl({hue:.0f}, 75%, 82%)"


def plot_file(kind: str) -> str:
    """A new PNG path in the system temp folder, one per request (Gradio serves files from there and
    copies them into its own cache)."""
    import tempfile
    import uuid
    from pathlib import Path

    folder = Path(tempfile.gettempdir()) / f"llmpg-{kind}"
    folder.mkdir(exist_ok=True)
    return str(folder / f"{uuid.uuid4().hex}.png")


def lines_of(text: str | None) -> list[str]:
    """The non-empty lines of a text box."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


STREAM_SECONDS = 0.1
"""How often a streaming output is redrawn at most: a fast engine makes 40+ tokens a second, and
redrawing every token's coloured HTML would keep the browser busy (and deaf to Stop) on a small laptop."""


class RedrawPacer:
    """Says when a stream's next state is worth sending to the page: the first, every STREAM_SECONDS,
    and the last (`final`). `pending` is True while a state was skipped, so the caller can send it
    when the stream ends without a final step (a Stop)."""

    def __init__(self, seconds: float = STREAM_SECONDS):
        import time

        self._clock, self.seconds, self._last, self.pending = time.monotonic, seconds, None, False

    def due(self, final: bool = False) -> bool:
        now = self._clock()
        if final or self._last is None or now - self._last >= self.seconds:
            self._last, self.pending = now, False
            return True
        self.pending = True
        return False
