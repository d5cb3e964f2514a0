"""`Constraint`: what the output must look like, checked before any model work.

    Constraint("json_schema", {"type": "object", "properties": {"age": {"type": "integer"}}})
    Constraint("json_object")                       # any JSON object
    Constraint("regex", "[0-9]{3}-[0-9]{4}")
    Constraint("grammar", 'root ::= "yes" | "no"')  # GBNF / EBNF as llama.cpp writes it, or Lark
    Constraint("choices", ["positive", "negative", "neutral"])

Building one validates it without any tokenizer: the schema against the JSON-schema meta-schema
(the error names the path, e.g. `$.properties.age.type`), then the grammar engine's own checks
(an unsatisfiable schema, a regex syntax error with a caret under the place, a grammar syntax error
with its line and column), then whether the constraint matches any text at all (checked over a
256-token byte vocabulary, so it holds for every tokenizer). Errors are `PlaygroundError`s.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llm_playground.errors import PlaygroundError

KINDS = ("json_schema", "json_object", "regex", "grammar", "choices")
ConstraintKind = Literal["json_schema", "json_object", "regex", "grammar", "choices"]

JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""JSON is written as `json.dumps` writes it: `{"a": 1, "b": [2, 3]}`. Flexible whitespace would let
a small model pad its output with runaway spaces and newlines (see docs/structured-output.md)."""


@dataclass
class Constraint:
    """A constraint on the generated text, validated when built."""

    kind: ConstraintKind
    """json_schema, json_object (any JSON object), regex, grammar (GBNF/EBNF or Lark) or choices."""
    value: Any = None
    """json_schema: the schema (a dict, or its JSON text); regex: the pattern (Rust regex syntax, `\\d`
    means [0-9]); grammar: the grammar text; choices: the list of allowed strings; json_object: None."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PlaygroundError(f"unknown constraint kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        self.value = _normalise(self.kind, self.value)
        engine_grammar(self.kind, self.key_value)  # validates (cached per constraint)

    @property
    def key_value(self) -> str:
        """The value as canonical text (the cache key together with the kind). Keys keep their order:
        a schema's property order is the order the output writes them in."""
        if self.kind in ("json_schema", "choices"):
            return json.dumps(self.value, ensure_ascii=False)
        return "" if self.value is None else str(self.value)

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.key_value

    @property
    def produces_json(self) -> bool:
        return self.kind in ("json_schema", "json_object")

    @property
    def grammar(self) -> str:
        """The grammar engine's (llguidance) grammar for this constraint."""
        return engine_grammar(self.kind, self.key_value)

    def describe(self) -> str:
        """One line for people: `JSON schema {"type": "object", …}`, `regex [0-9]{3}`."""
        label = {"json_schema": "JSON schema", "json_object": "any JSON object", "regex": "regex",
                 "grammar": "grammar", "choices": "one of"}[self.kind]
        if self.kind == "json_object":
            return label
        if self.kind == "choices":
            return f"{label}: {', '.join(self.value)}"
        text = self.key_value if self.kind != "json_schema" else json.dumps(self.value, ensure_ascii=False)
        return f"{label} {text if len(text) <= 80 else text[:77] + '…'}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_options(cls, *, json_schema: str | dict | None = None, json_object: bool = False,
                     regex: str | None = None, grammar: str | None = None,
                     choices: str | list[str] | None = None) -> "Constraint | None":
        """The one constraint the options ask for (None when none is set), as faces collect them.

        json_schema is a dict, JSON text, or the path of a .json file; grammar is grammar text or the
        path of a file holding it; choices is a list or comma-separated text. Setting two is an error.
        """
        given = {name: value for name, value in (("json_schema", json_schema), ("json_object", json_object or None),
                                                 ("regex", regex), ("grammar", grammar), ("choices", choices))
                 if value not in (None, "", [])}
        if len(given) > 1:
            raise PlaygroundError(f"choose one constraint, not {len(given)}: {' and '.join(given)} were both given")
        if not given:
            return None
        (kind, value), = given.items()
        if kind == "json_schema" and isinstance(value, str):
            value = _schema_text_or_file(value)
        elif kind == "grammar":
            value = _text_or_file(value, "grammar")
        elif kind == "choices" and isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        elif kind == "json_object":
            value = None
        return cls(kind, value)


# --- normalising and checking values ------------------------------------------------------------


def _schema_text_or_file(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith(("{", "[")) or stripped in ("true", "false"):
        return stripped
    path = Path(stripped).expanduser()
    if not path.is_file():
        raise PlaygroundError(f"json_schema: {stripped!r} is neither JSON (it does not start with '{{') nor a file "
                              "that exists; pass the schema inline or the path of a .json file")
    return path.read_text(encoding="utf-8")


def _text_or_file(text: str, what: str) -> str:
    stripped = text.strip()
    if "\n" not in stripped and len(stripped) < 512:
        path = Path(stripped).expanduser()
        if path.is_file():
            return path.read_text(encoding="utf-8")
        if path.suffix in (".gbnf", ".ebnf", ".lark", ".txt") and not path.exists():
            raise PlaygroundError(f"{what}: the file {stripped} does not exist")
    return text


def _normalise(kind: str, value: Any) -> Any:
    if kind == "json_object":
        if value not in (None, "", {}):
            raise PlaygroundError("json_object takes no value; use json_schema to give a schema")
        return None
    if kind == "json_schema":
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise PlaygroundError(f"json_schema is not valid JSON: {error.msg} at line {error.lineno}, "
                                      f"column {error.colno}") from None
        if value is True:
            value = {}
        if not isinstance(value, dict):
            raise PlaygroundError(f"json_schema must be a JSON object such as {{\"type\": \"object\"}} "
                                  f"(got {type(value).__name__})")
        _check_against_meta_schema(value)
        return value
    if kind in ("regex", "grammar"):
        if not isinstance(value, str) or not value.strip():
            raise PlaygroundError(f"the {kind} is empty; write a {'pattern' if kind == 'regex' else 'grammar'}")
        return value
    # choices
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise PlaygroundError("choices must be a non-empty list of strings, e.g. positive,negative,neutral")
    choices = list(value)
    for index, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice:
            raise PlaygroundError(f"choice {index + 1} is empty; every choice must be some text "
                                  f"(got {', '.join(map(repr, choices))})")
    duplicates = sorted({c for c in choices if choices.count(c) > 1})
    if duplicates:
        raise PlaygroundError(f"choices repeat {', '.join(map(repr, duplicates))}; list each once")
    return choices


def _check_against_meta_schema(schema: dict) -> None:
    """The schema must itself be valid under its meta-schema; the error names the path inside it."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(validator(validator.META_SCHEMA).iter_errors(schema))
    if error is not None:
        where = error.json_path if error.path else "the top level"
        raise PlaygroundError(f"json_schema is not a valid JSON schema at {where}: {error.message}")


def ascii_digits(pattern: str) -> str:
    r"""`\d` as [0-9] and `\D` as [^0-9]: the engine's regex syntax (Rust) reads `\d` as any Unicode
    digit (Arabic-Indic, Devanagari…), which is not what people mean when they write `\d{3}`.

    >>> ascii_digits(r"\d{3}-[\d-]+\\d")
    '[0-9]{3}-[0-9-]+\\\\d'
    """
    out, index, in_class = [], 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            pair = pattern[index:index + 2]
            if pair == r"\d":
                out.append("0-9" if in_class else "[0-9]")
            elif pair == r"\D" and not in_class:
                out.append("[^0-9]")
            else:
                out.append(pair)
            index += 2
            continue
        out.append(char)
        index += 1
        if char == "[" and not in_class:
            in_class = True
            for literal in ("^", "]"):  # a ']' right after '[' or '[^' is a literal, not the end
                if pattern[index:index + 1] == literal:
                    out.append(literal)
                    index += 1
        elif char == "]" and in_class:
            in_class = False
    return "".join(out)


# --- the engine's grammar, and the checks that need no tokenizer -------------------------------

_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def engine_grammar(kind: str, key_value: str) -> str:
    """The llguidance grammar for a constraint, after the engine's checks (cached per constraint)."""
    import llguidance

    matcher_class = llguidance.LLMatcher
    value = json.loads(key_value) if kind in ("json_schema", "choices") else key_value
    try:
        if kind == "json_schema":
            grammar = matcher_class.grammar_from_json_schema(value, defaults=JSON_OPTIONS)
        elif kind == "json_object":
            grammar = matcher_class.grammar_from_json_schema({"type": "object"}, defaults=JSON_OPTIONS)
        elif kind == "regex":
            grammar = matcher_class.grammar_from_regex(ascii_digits(value))
        elif kind == "grammar":
            if "::=" in value and not re.search(r"^\s*root\s*::=", value, re.MULTILINE):
                raise PlaygroundError("the grammar has no root rule: a GBNF grammar starts at the rule named "
                                      "root, as in llama.cpp (root ::= ...)")
            grammar = llguidance.grammar_from("grammar", value)
        else:
            grammar = matcher_class.grammar_from_lark("start: " + " | ".join(json.dumps(c) for c in value))
    except ValueError as error:
        raise PlaygroundError(f"the {_what(kind)} has a syntax error: {_clean(str(error))}") from None
    is_error, notes = matcher_class.validate_grammar_with_warnings(grammar, _byte_tokenizer())
    if is_error:
        raise PlaygroundError(f"the {_what(kind)} cannot be used: {_clean(notes[0])}")
    if not matches_some_text(grammar):
        raise PlaygroundError(f"the {_what(kind)} matches no text at all, so nothing could be generated; "
                              "check it for contradictions")
    return grammar


def _what(kind: str) -> str:
    return {"json_schema": "JSON schema", "json_object": "JSON object constraint", "regex": "regex",
            "grammar": "grammar", "choices": "choices"}[kind]


def _clean(message: str) -> str:
    """The engine's message on one line, with the place it names: "unclosed character class at
    character 1 of '[0-9'", "line 1, column 8: Expected token …"."""
    message = message.replace("Failed to convert the grammar from GBNF to Lark: ", "")
    lines = message.strip("\n").splitlines()
    for index, line in enumerate(lines):  # Rust regex errors: header, the pattern, a caret line, "error: …"
        if line.strip().endswith("regex parse error:") and index + 3 < len(lines) + 1:
            pattern, carets = lines[index + 1], lines[index + 2] if index + 2 < len(lines) else ""
            what = next((l.split("error:", 1)[1].strip() for l in lines[index + 3:] if l.startswith("error:")), "")
            if "^" in carets:
                column = carets.index("^") - (len(pattern) - len(pattern.lstrip())) + 1
                return f"{what} at character {column} of {pattern.strip()!r}"
            return f"{what} in {pattern.strip()!r}"
    first = lines[0].strip() if lines else message
    located = re.match(r"^(\d+)\((\d+)\): (.*)$", first)
    if located:
        first = f"line {located.group(1)}, column {located.group(2)}: {located.group(3)}"
    return first


@functools.cache
def _byte_tokenizer():
    """A vocabulary of the 256 single bytes plus an end token: every tokenizer can spell what it can."""
    import llguidance
    from llguidance._tokenizer import TokenizerWrapper

    class Bytes:
        eos_token_id = 256
        bos_token_id = None
        tokens = [bytes([i]) for i in range(256)] + [b"<end>"]
        special_token_ids = [256]

        def __call__(self, text):
            return list(text if isinstance(text, bytes) else text.encode("utf-8"))

    with _lock:
        return llguidance.LLTokenizer(TokenizerWrapper(Bytes()))


def matches_some_text(grammar: str) -> bool:
    """Whether any text satisfies the grammar: some byte can start it, or the empty text is accepted."""
    import llguidance
    import numpy as np

    matcher = llguidance.LLMatcher(_byte_tokenizer(), grammar, log_level=0)
    if matcher.is_error():
        return False
    if matcher.is_accepting():
        return True
    allowed = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
    return bool(allowed[:256].any()) and not matcher.is_error()
