"""Errors of the API in OpenAI's shape (and Anthropic's on /v1/messages), with the right status.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
    {"type": "error", "error": {"type": "invalid_request_error", "message": "..."}}
"""
from __future__ import annotations

import re

from llm_playground.errors import PlaygroundError


class ApiError(Exception):
    """An error answered to the client as it is."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def openai(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def anthropic(self) -> dict:
        kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                529: "overloaded_error"}.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}


# Our library's field names → the API's parameter names, for errors raised while preparing a request.
_PARAMS = {"max_new_tokens": "max_tokens", "top_alternatives": "top_logprobs", "constraint": "response_format",
           "json_schema": "response_format", "stop": "stop", "temperature": "temperature", "top_p": "top_p",
           "top_k": "top_k", "min_p": "min_p", "frequency_penalty": "frequency_penalty",
           "presence_penalty": "presence_penalty", "repetition_penalty": "repetition_penalty", "seed": "seed",
           "tools": "tools", "tool_choice": "tool_choice", "stop strings": "stop", "the message": "messages",
           "the prompt": "prompt", "choice": "tool_choice"}


def from_library(error: PlaygroundError, *, default_param: str | None = None) -> ApiError:
    """A library error as a 400 naming the parameter its message starts with (or `default_param`)."""
    message = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    param = default_param
    for field, name in _PARAMS.items():
        if re.match(rf"^{re.escape(field)}\b", message):
            param = name
            break
    return ApiError(400, message, param=param)


def from_validation(errors: list[dict]) -> ApiError:
    """pydantic's validation errors (FastAPI's 422) as one 400 naming the first parameter."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    location = [part for part in first.get("loc", ()) if part != "body"]
    param = ""
    for part in location:
        if isinstance(part, int):
            param += f"[{part}]"
        elif not (isinstance(part, str) and ("[" in part or part.startswith(("function-", "literal")))):
            param += ("." if param else "") + str(part)
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        text = f"{param or 'the body'} is required"
    elif first.get("type") == "json_invalid":
        text = f"the body is not valid JSON: {first.get('ctx', {}).get('error', message)}"
    else:
        text = f"{param or 'the body'}: {message}" + (f" (got {_short(first['input'])})" if "input" in first else "")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return ApiError(400, text + more, param=param or None)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"
