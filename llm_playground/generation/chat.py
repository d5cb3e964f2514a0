"""Prompts as the model receives them: chat templates for chat models, plain text for base models."""
from __future__ import annotations

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


def prepare_prompt(tokenizer, prompt: str | list[Message], *, chat: bool, system: str | None = None) -> PreparedPrompt:
    """Templated (chat models) or raw (base models, `--raw`) prompt text and its ids.

    `prompt` is either the user's text, or a whole conversation (multi-turn chat).
    """
    if isinstance(prompt, str):
        check_prompt_text(prompt)
        messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    else:
        messages = list(prompt)
        if not messages or not messages[-1].content.strip():
            raise PlaygroundError("the message is empty; type something to say")
    if chat:
        text = render_chat(tokenizer, messages)
        ids = tokenizer.encode(text, add_special_tokens=False)  # the template wrote the special tokens
        return PreparedPrompt(text=text, ids=ids, templated=True, messages=messages)
    raw = prompt if isinstance(prompt, str) else "\n".join(m.content for m in messages)
    ids = tokenizer.encode(raw, add_special_tokens=True)  # e.g. Gemma's <bos>
    return PreparedPrompt(text=tokenizer.decode(ids, skip_special_tokens=False), ids=ids, templated=False,
                          messages=messages)
