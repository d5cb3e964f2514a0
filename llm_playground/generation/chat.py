"""Prompts as the model receives them: chat templates for chat models, plain text for base models.

What a person types is text, always: if it spells a special token (`<|im_end|>`, `<bos>`), that
spelling is encoded as ordinary characters, so a user's message can never close its own turn and
open a new system turn. Only the chat template writes real special tokens. `allow_special=True` is
the explicit opt-in (the CLI's `--allow-special`, a checkbox in the page) for people studying what
those tokens do.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from llm_playground.errors import PlaygroundError


@dataclass
class Message:
    role: str
    """"system", "user" or "assistant"."""
    content: str


@dataclass
class PreparedPrompt:
    """The exact input a model receives."""

    text: str
    """The prompt after templating, special tokens written out (what `compare` shows)."""
    ids: list[int]
    templated: bool
    """True when the chat template was applied."""
    messages: list[Message] = field(default_factory=list)
    special_text_as_text: list[str] = field(default_factory=list)
    """Special-token spellings found in the user's text and encoded as plain characters."""


def check_prompt_text(prompt: str) -> None:
    if not prompt or not prompt.strip():
        raise PlaygroundError("the prompt is empty; type some text to start from")


def render_chat(tokenizer, messages: list[Message], *, add_generation_prompt: bool = True) -> str:
    """The chat template applied to `messages`, as text (special tokens included)."""
    if not getattr(tokenizer, "chat_template", None):
        raise PlaygroundError("this model has no chat template; send the text as-is with --raw, "
                              "or pick a chat model (llmpg models)")
    return tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                         tokenize=False, add_generation_prompt=add_generation_prompt)


_text_backends_lock = threading.Lock()


def _text_backend(tokenizer):
    """A private copy of a fast tokenizer's backend that encodes special-token spellings as text."""
    backend = getattr(tokenizer, "_llmpg_text_backend", None)
    if backend is None:
        import tokenizers

        with _text_backends_lock:
            backend = getattr(tokenizer, "_llmpg_text_backend", None)
            if backend is None:
                backend = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
                backend.encode_special_tokens = True
                tokenizer._llmpg_text_backend = backend
    return backend


def special_spellings(tokenizer, text: str) -> list[str]:
    """The special tokens of `tokenizer` that `text` spells out, in order of first appearance."""
    found = []
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False) and token.content and token.content in text:
            found.append(token.content)
    return sorted(set(found), key=text.index)


def encode_text(tokenizer, text: str, *, add_special_tokens: bool) -> list[int]:
    """`text`'s ids with any special-token spelling encoded as ordinary characters.

    `add_special_tokens` adds what the tokenizer itself adds around a text (Gemma's <bos>).
    """
    if not special_spellings(tokenizer, text):
        return tokenizer.encode(text, add_special_tokens=add_special_tokens)  # exactly the usual ids
    return _text_backend(tokenizer).encode(text, add_special_tokens=add_special_tokens).ids


_SLOT = "\ue000{}\ue001"  # private-use characters mark where each message's content sits in the template


def _encode_chat(tokenizer, messages: list[Message]) -> list[int]:
    """The templated conversation's ids, with each message's content encoded as text.

    The template is rendered with a marker in place of each content; the template's own text
    between the markers is encoded with its special tokens, the contents as plain text.
    """
    marked = [Message(m.role, _SLOT.format(i)) for i, m in enumerate(messages)]
    rendered = render_chat(tokenizer, marked)
    ids: list[int] = []
    rest = rendered
    for i, message in enumerate(messages):
        slot = _SLOT.format(i)
        if slot not in rest:
            raise PlaygroundError("this model's chat template changes message contents, so special-token text "
                                  "in a message cannot be kept as text; remove the special-token text, or allow "
                                  "special tokens (allow_special)")
        before, rest = rest.split(slot, 1)
        if before:
            ids += tokenizer.encode(before, add_special_tokens=False)
        ids += _text_backend(tokenizer).encode(message.content, add_special_tokens=False).ids
    if rest:
        ids += tokenizer.encode(rest, add_special_tokens=False)
    return ids


def prepare_prompt(tokenizer, prompt: str | list[Message], *, chat: bool, system: str | None = None,
                   allow_special: bool = False) -> PreparedPrompt:
    """Templated (chat models) or raw (base models, `raw`) prompt text and its ids.

    `prompt` is either the user's text, or a whole conversation (multi-turn chat). Special-token
    spellings in the user's text stay text unless `allow_special`.
    """
    if isinstance(prompt, str):
        check_prompt_text(prompt)
        messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    else:
        messages = list(prompt)
        if not messages or not messages[-1].content.strip():
            raise PlaygroundError("the message is empty; type something to say")
    spelled = [] if allow_special else special_spellings(tokenizer, "\n".join(m.content for m in messages))
    if chat:
        text = render_chat(tokenizer, messages)
        if spelled:
            ids = _encode_chat(tokenizer, messages)
        else:
            ids = tokenizer.encode(text, add_special_tokens=False)  # the template wrote the special tokens
        return PreparedPrompt(text=text, ids=ids, templated=True, messages=messages, special_text_as_text=spelled)
    raw = prompt if isinstance(prompt, str) else "\n".join(m.content for m in messages)
    if spelled:
        ids = _text_backend(tokenizer).encode(raw, add_special_tokens=True).ids
    else:
        ids = tokenizer.encode(raw, add_special_tokens=True)  # e.g. Gemma's <bos>
    return PreparedPrompt(text=tokenizer.decode(ids, skip_special_tokens=False), ids=ids, templated=False,
                          messages=messages, special_text_as_text=spelled)
