"""Tool calls as constrained JSON, and reading them back from a stream of text pieces."""
import json

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.serving.errors import from_library, from_validation
from llm_playground.serving.server import check_host, is_loopback
from llm_playground.serving.tools import FunctionTool, ToolCallStream, ToolPlan, parse_call
from llm_playground.structured import validation_error

WEATHER = FunctionTool("get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}},
                                           "required": ["city"]})
CALL = '{"name": "get_weather", "arguments": {"city": "Paris {x}"}}'


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(CALL)])
def test_a_streamed_call_gives_its_name_once_then_the_arguments_text(size):
    stream = ToolCallStream()
    events = []
    for start in range(0, len(CALL), size):
        events += stream.feed(CALL[start:start + size])
    events += stream.finish()
    assert events[0] == ("name", "get_weather")
    assert [kind for kind, _ in events[1:]] == ["arguments"] * (len(events) - 1)
    assert "".join(value for _, value in events[1:]) == '{"city": "Paris {x}"}' == stream.arguments
    assert parse_call(CALL) == ("get_weather", '{"city": "Paris {x}"}')


def test_text_that_does_not_start_with_a_brace_is_text():
    stream = ToolCallStream()
    assert stream.feed("  {Hel") == [("text", "  {Hel")] and stream.feed("lo {") == [("text", "lo {")]
    assert stream.kind == "text" and parse_call("Hello") is None


def test_a_call_cut_before_its_name_is_complete_comes_back_as_text():
    stream = ToolCallStream()
    assert stream.feed('{"name": "get_we') == []
    assert stream.finish() == [("text", '{"name": "get_we')] and stream.kind == "text"


def test_plans_check_names_and_build_constraints_that_accept_only_calls():
    required = ToolPlan([WEATHER], "required").constraint()
    assert validation_error(required, CALL) is None
    assert validation_error(required, '{"name": "other", "arguments": {}}') is not None
    with pytest.raises(PlaygroundError, match="not among the tools"):
        ToolPlan([WEATHER], "named", name="nope")
    with pytest.raises(PlaygroundError, match="defined twice"):
        ToolPlan([WEATHER, WEATHER], "auto")
    with pytest.raises(PlaygroundError, match="letters, digits"):
        ToolPlan([FunctionTool("bad name", "", {"type": "object"})], "auto")
    assert ToolPlan([WEATHER], "auto").constraint().kind == "grammar"
    assert json.loads(ToolPlan([WEATHER], "auto").prompt().split(": ", 1)[1].split("\n")[0])[0]["name"] == "get_weather"


def test_errors_name_the_parameter():
    assert from_library(PlaygroundError("top_p must be in (0, 1] (got 0)")).param == "top_p"
    assert from_library(PlaygroundError("max_new_tokens must be at least 1")).param == "max_tokens"
    error = from_validation([{"loc": ("body", "messages", 0, "role"), "msg": "Input should be 'user'",
                              "type": "literal_error", "input": "robot"}])
    assert error.status == 400 and error.param == "messages[0].role" and "robot" in error.message
    assert from_validation([{"loc": ("body", "model"), "msg": "Field required", "type": "missing"}]).message == \
        "model is required"


def test_only_loopback_is_open_without_a_key():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_host("127.0.0.1", None, False)
    check_host("0.0.0.0", "key", False)
    check_host("0.0.0.0", None, True)
    with pytest.raises(PlaygroundError, match="refusing to listen on 0.0.0.0 without an API key"):
        check_host("0.0.0.0", None, False)
