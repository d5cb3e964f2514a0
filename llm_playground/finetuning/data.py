"""Fine-tuning data as JSONL, checked line by line before any model is loaded.

Three record shapes (one JSON object a line):

    chat         {"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}   last turn: assistant
    completion   {"prompt": "…" or [messages], "completion": "…"}
    preference   {"prompt": "…" or [messages], "chosen": "…", "rejected": "…"}

For SFT the loss is on the completion only (the last assistant turn of a chat record). A chat model
gets its chat template; a plain-text prompt becomes one user turn. A base model (no template) takes
plain-text prompts only: prompt + completion as one text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llm_playground.errors import PlaygroundError

ROLES = ("system", "user", "assistant")
SFT_SHAPES = ("chat", "completion")


@dataclass
class Example:
    """One normalised example: a prompt (text, or chat turns) and its target text(s)."""

    prompt: str | list[dict]
    completion: str = ""
    """The SFT target (the assistant's answer)."""
    chosen: str = ""
    """Preference data: the better answer."""
    rejected: str = ""
    """Preference data: the worse answer."""
    line: int = 0
    """1-based line in the source file (0 for built-in data)."""

    @property
    def is_chat(self) -> bool:
        return isinstance(self.prompt, list)

    def to_record(self) -> dict:
        """Back to the JSONL shape (completion or preference)."""
        if self.chosen or self.rejected:
            return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        return {"prompt": self.prompt, "completion": self.completion}


def _messages(value, where: str, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise PlaygroundError(f"{where}: field {field!r} must be a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise PlaygroundError(f"{where}: {field}[{index}] must be an object with 'role' and 'content'")
        if message.get("role") not in ROLES:
            raise PlaygroundError(f"{where}: {field}[{index}].role must be one of {', '.join(ROLES)} "
                                  f"(got {message.get('role')!r})")
        if not isinstance(message.get("content"), str):
            raise PlaygroundError(f"{where}: {field}[{index}].content must be a string")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _text(record: dict, field: str, where: str) -> str:
    if field not in record:
        raise PlaygroundError(f"{where}: field {field!r} is missing")
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise PlaygroundError(f"{where}: field {field!r} must be a non-empty string")
    return value


def parse_record(record, where: str, kind: str) -> Example:
    """One JSON value → an Example of `kind` ("sft" or "preference"), or an error naming line and field."""
    if not isinstance(record, dict):
        raise PlaygroundError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if kind == "preference":
        prompt = record.get("prompt")
        if prompt is None:
            raise PlaygroundError(f"{where}: field 'prompt' is missing (preference records have prompt, chosen, "
                                  "rejected)")
        prompt = _messages(prompt, where, "prompt") if isinstance(prompt, list) else _text(record, "prompt", where)
        return Example(prompt=prompt, chosen=_text(record, "chosen", where),
                       rejected=_text(record, "rejected", where))
    if "messages" in record:
        messages = _messages(record["messages"], where, "messages")
        if messages[-1]["role"] != "assistant":
            raise PlaygroundError(f"{where}: the last message must be the assistant's answer (the text to learn); "
                                  f"it is {messages[-1]['role']!r}")
        if len(messages) < 2:
            raise PlaygroundError(f"{where}: 'messages' needs at least a user turn and the assistant's answer")
        return Example(prompt=messages[:-1], completion=messages[-1]["content"])
    if "prompt" in record or "completion" in record:
        prompt = record.get("prompt")
        if prompt is None:
            raise PlaygroundError(f"{where}: field 'prompt' is missing")
        prompt = _messages(prompt, where, "prompt") if isinstance(prompt, list) else _text(record, "prompt", where)
        return Example(prompt=prompt, completion=_text(record, "completion", where))
    raise PlaygroundError(f"{where}: a record needs 'messages' (chat) or 'prompt' and 'completion'; "
                          f"it has {', '.join(map(repr, record)) or 'no fields'}")


def read_jsonl(path: str | Path, kind: str = "sft") -> list[Example]:
    """Every record of a JSONL file, validated; the first problem raises with its line number and field."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PlaygroundError(f"data file {path} does not exist")
    examples = []
    with open(path, encoding="utf-8", errors="strict") as stream:
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                where = f"{path.name} line {number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise PlaygroundError(f"{where} is not valid JSON ({error.msg} at column {error.colno})") from None
                example = parse_record(record, where, kind)
                example.line = number
                examples.append(example)
        except UnicodeDecodeError:
            raise PlaygroundError(f"{path} is not UTF-8 text") from None
    if not examples:
        raise PlaygroundError(f"{path} has no records; write one JSON object a line")
    return examples


def check_for_model(examples: list[Example], model_kind: str, model_name: str) -> None:
    """Chat-shaped data needs a chat model's template; say so before loading anything."""
    if model_kind != "chat":
        chat = next((e for e in examples if e.is_chat), None)
        if chat is not None:
            where = f"line {chat.line}" if chat.line else "the data"
            raise PlaygroundError(f"{model_name} has no chat template, but {where} holds chat messages; use "
                                  "plain-text prompt/completion records for a base model, or pick a chat model")


def to_trl(example: Example, chat: bool, system: str | None = None) -> dict:
    """The record TRL's trainers read: conversational for chat models, plain text for base models."""
    if chat:
        prompt = example.prompt if example.is_chat else [{"role": "user", "content": example.prompt}]
        if system and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": system}, *prompt]
        if example.chosen or example.rejected:
            return {"prompt": prompt, "chosen": [{"role": "assistant", "content": example.chosen}],
                    "rejected": [{"role": "assistant", "content": example.rejected}]}
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": example.completion}]}
    if example.chosen or example.rejected:
        return {"prompt": example.prompt, "chosen": example.chosen, "rejected": example.rejected}
    return {"prompt": example.prompt, "completion": example.completion}


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Write records atomically, one JSON object a line."""
    from llm_playground.assets.files import atomic_write_text

    return atomic_write_text(Path(path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
