"""Function calling on top of constrained decoding.

A tool call is generated as one JSON object, written as `json.dumps` writes it:

    {"name": "get_weather", "arguments": {"city": "Paris"}}

- `tool_choice` "required" / "any": the output must be a call of one of the tools (a JSON schema
  `anyOf` over the tools, each with its name as a constant and its parameters' schema);
- a named function: the output must be a call of that function;
- "auto": a grammar that allows either such a call or plain text that does not start with `{`
  (so the first character tells which it is, and a stream can say so at once);
- "none": the tools are not offered and nothing is constrained.

The tools are described to the model in its system message (`tools_prompt`), and the grammar
guarantees the shape whatever the model wants. `ToolCallStream` turns the generated text into
OpenAI's streamed tool-call deltas: the name once it is complete, then the arguments' text as it comes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from llm_playground.errors import PlaygroundError
from llm_playground.structured import Constraint
from llm_playground.structured.constraint import JSON_OPTIONS

ToolMode = Literal["auto", "required", "named"]
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""OpenAI's rule for function names."""


@dataclass(frozen=True)
class FunctionTool:
    name: str
    description: str
    parameters: dict
    """The arguments' JSON schema ({"type": "object"} when the tool gave none)."""


@dataclass
class ToolPlan:
    """The tools offered to the model and what the output must be."""

    tools: list[FunctionTool]
    mode: ToolMode
    name: str | None = None
    """The function a named tool_choice forces."""

    def __post_init__(self) -> None:
        names = [tool.name for tool in self.tools]
        for name in names:
            if not NAME.match(name):
                raise PlaygroundError(f"tools: function name {name!r} must be 1-64 letters, digits, _ or -")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PlaygroundError(f"tools: function {duplicates[0]!r} is defined twice")
        if self.mode == "named" and self.name not in names:
            raise PlaygroundError(f"tool_choice names function {self.name!r}, which is not among the tools "
                                  f"({', '.join(names)})")
        if self.mode != "named" and not self.tools:
            raise PlaygroundError("tool_choice needs tools; give at least one function")

    @property
    def offered(self) -> list[FunctionTool]:
        return [t for t in self.tools if self.mode != "named" or t.name == self.name]

    def constraint(self) -> Constraint:
        """The constraint the output is generated under."""
        calls = [call_schema(tool) for tool in self.offered]
        if self.mode in ("required", "named"):
            return Constraint("json_schema", calls[0] if len(calls) == 1 else {"anyOf": calls})
        schema = dict(calls[0] if len(calls) == 1 else {"anyOf": calls})
        schema["x-guidance"] = JSON_OPTIONS  # the same layout as json_schema constraints
        return Constraint("grammar", "start: call | text\n"
                                     f"call: %json {json.dumps(schema)}\n"
                                     "text: /[^{][\\s\\S]*/\n")

    def prompt(self) -> str:
        """What the system message says about the tools."""
        listed = json.dumps([{"name": t.name, "description": t.description, "parameters": t.parameters}
                             for t in self.offered], ensure_ascii=False)
        return (f"You can call these functions: {listed}\nTo call one, reply with only a JSON object "
                '{"name": <the function name>, "arguments": <its arguments as a JSON object>}.')


def call_schema(tool: FunctionTool) -> dict:
    """The JSON schema of one call: the name (a constant) first, then the arguments."""
    return {"type": "object", "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
            "required": ["name", "arguments"], "additionalProperties": False}


def check_parameters(name: str, parameters: dict | None) -> dict:
    """A tool's parameters schema ({"type": "object"} when absent), checked as a JSON schema."""
    if parameters is None or parameters == {}:
        return {"type": "object"}
    Constraint("json_schema", parameters)  # raises a PlaygroundError naming the place in the schema
    return parameters


def call_prefix(name: str) -> str:
    return '{"name": ' + json.dumps(name) + ', "arguments": '


_PREFIX = re.compile(r'^\{"name": ("(?:[^"\\]|\\.)*"), "arguments": ')


def parse_call(text: str) -> tuple[str, str] | None:
    """(name, arguments JSON text) of a generated call, None when the text is not a call."""
    match = _PREFIX.match(text)
    if not match or not text.endswith("}"):
        return None
    return json.loads(match.group(1)), text[match.end():-1]


class ToolCallStream:
    """Reads a generation's text as it comes; says whether it is a call, its name, then its arguments.

        stream = ToolCallStream()
        for piece in texts:
            for kind, value in stream.feed(piece): ...   # ("text", …) | ("name", …) | ("arguments", …)
        for kind, value in stream.finish(): ...
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.kind: Literal["text", "call"] | None = None
        self.name: str | None = None
        self._sent = 0  # characters of the arguments already handed out

    def feed(self, text: str) -> list[tuple[str, str]]:
        self.buffer += text
        if self.kind is None:
            if not self.buffer:
                return []
            self.kind = "call" if self.buffer.startswith("{") else "text"  # the grammar's rule: a call starts with {
            if self.kind == "text":
                out, self.buffer = self.buffer, ""
                return [("text", out)]
        if self.kind == "text":
            out, self.buffer = self.buffer, ""
            return [("text", out)] if out else []
        events = []
        match = _PREFIX.match(self.buffer)
        if match is None:
            return events
        if self.name is None:
            self.name = json.loads(match.group(1))
            events.append(("name", self.name))
        arguments = self.buffer[match.end():]
        ready = arguments[:-1]  # the last character may be the call's closing brace
        if len(ready) > self._sent:
            events.append(("arguments", ready[self._sent:]))
            self._sent = len(ready)
        return events

    def finish(self) -> list[tuple[str, str]]:
        """At the end: the rest (the call's closing brace dropped)."""
        if self.kind != "call":
            out, self.buffer = self.buffer, ""
            return [("text", out)] if out else []
        match = _PREFIX.match(self.buffer)
        if match is None:  # stopped (max_tokens) before the name was complete: what there is, as text
            self.kind = "text"
            return [("text", self.buffer)] if self.buffer else []
        arguments = self.buffer[match.end():]
        if arguments.endswith("}") and _balanced(arguments):
            arguments = arguments[:-1]
        rest = arguments[self._sent:]
        self._sent = len(arguments)
        return [("arguments", rest)] if rest else []

    @property
    def arguments(self) -> str:
        match = _PREFIX.match(self.buffer)
        if match is None:
            return ""
        arguments = self.buffer[match.end():]
        return arguments[:-1] if arguments.endswith("}") and _balanced(arguments) else arguments


def _balanced(arguments: str) -> bool:
    """Whether `arguments` (the call's tail) holds one more closing brace than the arguments need,
    i.e. the call's own closing brace is there."""
    try:
        json.loads(arguments[:-1])
        return True
    except json.JSONDecodeError:
        return False
