"""The Chat and Prompt lab handlers and the Generate tab's constraint picker, as plain functions."""
import json

import pytest

from llm_playground.generation.conversation import ChatSession
from llm_playground.ui.tabs import chat, generate, prompt_lab

SCHEMA = '{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"city":{"type":"string"}},' \
         '"required":["name","age","city"]}'


def error_in(status, text: str) -> bool:
    return 'llmpg-error' in status and text in status.replace("&#x27;", "'").replace("&quot;", '"')


def last(generator):
    return list(generator)[-1]


# ---- bad input, no model ------------------------------------------------------------------------

@pytest.mark.parametrize("kind, value, message", [
    ("JSON schema", '{"type": "objekt"}', "json_schema is not a valid JSON schema at $.type"),
    ("regex", "[^\\s\\S]", "the regex matches no text at all"),
    ("grammar (GBNF or Lark)", 'root ::= "a" "b" )', "the grammar has a syntax error"),
    ("JSON schema", "", "the JSON schema constraint needs a value"),
    ("nonsense", "", "choose a constraint"),
])
def test_generate_constraint_errors_are_inline(kind, value, message):
    outputs = last(generate.generate("smollm2-135m-instruct", "greedy", 1, 0, 1, 0, 1, 8, 0, 4, "", "hi",
                                     constraint_kind=kind, constraint_value=value))
    assert error_in(outputs[4], message), outputs[4]


def test_chat_bad_input_is_inline():
    assert error_in(last(chat.send("gemma3-270m", "greedy", 1, 8, None, "", "hi", None))[3], "without a chat template")
    assert error_in(last(chat.send("smollm2-135m-instruct", "greedy", 1, 8, None, "", "  ", None))[3],
                    "the message is empty")
    assert error_in(last(chat.send("smollm2-135m-instruct", "beam", 1, 8, None, "", "hi", None))[3],
                    "choose greedy or sample")
    assert error_in(last(chat.regenerate("smollm2-135m-instruct", "greedy", 1, 8, None, "", None))[3],
                    "nothing to regenerate")
    assert error_in(last(chat.branch("smollm2-135m-instruct", "greedy", 1, 8, None, "", None, None, ChatSession()))[3],
                    "click a token of an answer")
    click = type("Click", (), {"_data": {"turn": 0, "index": 0}})()  # what gr.EventData carries
    assert error_in(chat.select_token(ChatSession(), click)[3], "click a token of an answer")


@pytest.mark.parametrize("change, message", [
    ({"template": "{{ input }} {{ tone }}"}, "the template variable 'tone' is not filled"),
    ({"template": "{{ input "}, "the template has a syntax error at line 1"),
    ({"shots": 30}, "few-shot k=30 is larger than the 15 examples of the task set sentiment"),
    ({"techniques": []}, "choose at least one technique"),
    ({"task_name": "/tmp/llmpg-missing-task.jsonl"}, "does not exist"),
])
def test_prompt_lab_run_bad_input_is_inline(change, message):
    args = dict(model="smollm2-135m-instruct", task_name="sentiment", techniques=["few-shot"], system="",
                template=prompt_lab.DEFAULT_TEMPLATE, variables="", shots=3, samples=5, limit=2)
    assert error_in(last(prompt_lab.run_task_set(**{**args, **change}))[4], message)


def test_prompt_lab_an_empty_task_file_is_inline(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"input": "x", "answer": "a", "split": "example"}\n')
    outputs = last(prompt_lab.run_task_set("smollm2-135m-instruct", str(empty), ["zero-shot"], "",
                                           prompt_lab.DEFAULT_TEMPLATE, "", 3, 5, 2))
    assert error_in(outputs[4], "the task set empty.jsonl is empty")


def test_prompt_lab_variables_parse_name_value_lines():
    assert prompt_lab.parse_variables("tone = friendly\n\nlang=fr") == {"tone": "friendly", "lang": "fr"}
    outputs = last(prompt_lab.try_prompt("smollm2-135m-instruct", "sentiment", "zero-shot", "none", "", "",
                                         prompt_lab.DEFAULT_TEMPLATE, "oops", 3, "hi"))
    assert error_in(outputs[4], "variables line 1 needs the form name=value")


# ---- on SmolLM2 ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_chat_two_turns_branch_and_switch_back():
    model = "smollm2-135m-instruct"
    first = list(chat.send(model, "greedy", 1, 16, None, "", "What is the capital of France?", None))
    session = first[-1][1]
    assert session.turns[0].reply.text == "The capital of France is Paris."
    second = list(chat.send(model, "greedy", 1, 16, None, "", "And of Italy?", session))
    model_input = next(o[2] for o in second if isinstance(o[2], str) and o[2])
    assert "The capital of France is Paris.<|im_end|>" in model_input  # the second answer sees the first
    assert "Rome" in session.turns[1].reply.text
    alternatives, answers, selection, _ = chat.token_choices(session, 0, 5)
    assert selection == {"turn": 0, "index": 5} and alternatives["choices"][0][0].startswith("' Paris'")
    other = alternatives["choices"][1][1]
    list(chat.branch(model, "greedy", 1, 16, None, "", selection, other, session))
    branch = session.turns[0].reply
    assert len(session.turns[0].replies) == 2 and branch.branched_from == (0, 5)
    assert branch.steps[5].id == other and branch.text.startswith("The capital of France is")
    assert [s.index for s in branch.steps] == list(range(len(branch.steps)))
    html, _ = chat.switch(session, selection, 0)
    assert session.turns[0].reply.text == "The capital of France is Paris." and "answer 1 of 2" in html
    assert chat.stopped(session)[1].count("stopped") == 1


@pytest.mark.slow
def test_generate_tab_with_a_json_schema_shows_the_parsed_value_and_masked_mass():
    outputs = list(generate.generate("smollm2-135m-instruct", "greedy", 1, 0, 1, 0, 1, 40, 0, 4, "You are a JSON API.",
                                     "Extract: name, age, city from: 'Alice Smith, 29, lives in London.'",
                                     constraint_kind="JSON schema", constraint_value=SCHEMA))
    text, coloured, stats, _, status = outputs[-1]
    assert json.loads(text) == {"name": "Alice Smith", "age": 29, "city": "London"}
    assert "constraint removed" in stats and "finished: eos" in stats
    assert "the output is valid JSON" in status and "of the model&#x27;s probability here" in coloured


@pytest.mark.slow
def test_prompt_lab_try_and_a_small_run():
    outputs = list(prompt_lab.try_prompt("smollm2-135m-instruct", "extraction", "zero-shot",
                                         prompt_lab.ANSWER_SHAPE, "", "", prompt_lab.DEFAULT_TEMPLATE, "", 3,
                                         "Alice Smith, 29, lives in London."))
    assert outputs[-1][3].startswith('answer read: `{&quot;name&quot;: &quot;Alice Smith&quot;') and "correct" in outputs[-1][3]
    model_input = next(o[0] for o in outputs if isinstance(o[0], str) and o[0])
    assert "<|im_start|>system\nYou are a JSON API." in model_input
    run = list(prompt_lab.run_task_set("smollm2-135m-instruct", "sentiment", ["constrained"], "",
                                       prompt_lab.DEFAULT_TEMPLATE, "", 3, 5, 2))
    progress, table, chart, saved, status = run[-1]
    assert progress.startswith("done: 2 items") and "<td>constrained</td><td>2</td>" in table and "<td>100%</td>" in table
    assert chart.size[0] > 300  # the chart, as an image
    saved_json = saved.split(" (chart: ")[0]
    assert json.loads(open(saved_json).read())["cells"][0]["items"] == 2
