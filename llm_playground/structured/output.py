"""Reading what a constrained generation produced: the parsed value, checked against the constraint."""
from __future__ import annotations

import json
from typing import Any

from llm_playground.structured.constraint import Constraint


def parse_output(constraint: Constraint, text: str) -> Any:
    """The value a complete output stands for: the parsed JSON for json_schema / json_object, the text
    itself for regex, grammar and choices. Raises ValueError when JSON does not parse."""
    if constraint.produces_json:
        return json.loads(text)
    return text


def validation_error(constraint: Constraint, text: str) -> str | None:
    """None when `text` satisfies the constraint, else what is wrong (checked independently of the
    grammar engine: `json` + `jsonschema`, Python's `regex` module, exact choices)."""
    if constraint.produces_json:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            return f"not JSON: {error.msg} at column {error.colno}"
        if constraint.kind == "json_object":
            return None if isinstance(value, dict) else f"not a JSON object but a {type(value).__name__}"
        import jsonschema

        validator = jsonschema.validators.validator_for(constraint.value, default=jsonschema.Draft202012Validator)
        error = jsonschema.exceptions.best_match(validator(constraint.value).iter_errors(value))
        return None if error is None else f"at {error.json_path}: {error.message}"
    if constraint.kind == "choices":
        return None if text in constraint.value else f"{text!r} is not one of the choices"
    if constraint.kind == "regex":
        import regex

        from llm_playground.structured.constraint import ascii_digits

        return None if regex.fullmatch(ascii_digits(constraint.value), text) else f"{text!r} does not match"
    return None  # a grammar: only the engine itself can check it
