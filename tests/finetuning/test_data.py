"""JSONL checked line by line; the extract task's data and scoring."""
from __future__ import annotations

import json

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.finetuning.data import check_for_model, read_jsonl, to_trl
from llm_playground.finetuning.tasks import extraction_pool, get_task, score_extraction


def write(tmp_path, lines):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "hi", "completion": "yo"', r"data.jsonl line 2 is not valid JSON"),
    ('{"prompt": "hi"}', r"line 2: field 'completion' is missing"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', r"line 2: the last message must be the assistant"),
    ('{"messages": [{"role": "bot", "content": "hi"}]}', r"line 2: messages\[0\].role must be one of"),
    ('{"text": "hi"}', r"line 2: a record needs 'messages' \(chat\) or 'prompt' and 'completion'"),
    ('[1, 2]', r"line 2: expected a JSON object"),
])
def test_malformed_records_name_line_and_field(tmp_path, line, message):
    path = write(tmp_path, ['{"prompt": "a", "completion": "b"}', line])
    with pytest.raises(PlaygroundError, match=message):
        read_jsonl(path)


def test_preference_records_and_empty_files(tmp_path):
    path = write(tmp_path, ['{"prompt": "2+2?", "chosen": "4", "rejected": "5"}', '{"prompt": "x", "chosen": "y"}'])
    with pytest.raises(PlaygroundError, match="line 2: field 'rejected' is missing"):
        read_jsonl(path, "preference")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(PlaygroundError, match="has no records"):
        read_jsonl(empty)


def test_chat_data_needs_a_chat_template(tmp_path):
    examples = read_jsonl(write(tmp_path, ['{"prompt": "a", "completion": "b"}',
                                           '{"messages": [{"role": "user", "content": "hi"}, '
                                           '{"role": "assistant", "content": "yo"}]}']))
    with pytest.raises(PlaygroundError, match="has no chat template, but line 2 holds chat messages"):
        check_for_model(examples, "base", "gemma3-270m")
    check_for_model(examples, "chat", "smollm2-135m-instruct")
    assert to_trl(examples[1], chat=True) == {"prompt": [{"role": "user", "content": "hi"}],
                                              "completion": [{"role": "assistant", "content": "yo"}]}
    assert to_trl(examples[0], chat=False) == {"prompt": "a", "completion": "b"}
    assert to_trl(examples[0], chat=True, system="S")["prompt"][0] == {"role": "system", "content": "S"}


def test_extraction_score_rules():
    want = {"name": "Maria Lopez", "age": 34, "city": "Lisbon", "job": "nurse"}
    exact = score_extraction(json.dumps(want), want)
    assert (exact.exact, exact.valid_json, exact.fields_correct) == (True, True, 4)
    wrong_type = score_extraction('{"name": "Maria Lopez", "age": "34", "city": "Lisbon", "job": "nurse"}', want)
    assert (wrong_type.exact, wrong_type.fields_correct) == (False, 3)
    fenced = score_extraction("```json\n" + json.dumps(want) + "\n```", want)
    assert not fenced.valid_json and fenced.rank() < wrong_type.rank() < exact.rank()


def test_extract_task_is_deterministic_and_held_out_people_are_unseen():
    task = get_task("extract")
    train, held_out = task.make(200, 30)
    assert (train, held_out) == task.make(200, 30)
    assert len(held_out) == 30 and len(train) <= 200
    names = lambda examples: {json.loads(e.completion)["name"] for e in examples}  # noqa: E731
    assert not names(train) & names(held_out)
    assert len({s for s, _ in extraction_pool(500)}) == 500
    assert task.score(held_out[0].completion, held_out[0].completion).exact
