"""`llmpg generate` constraint flags and `llmpg prompt-lab run`: bad input is one line and exit 1."""
import os
import subprocess
import sys

import pytest

from llm_playground.cli import main


@pytest.mark.parametrize("argv, message", [
    (["generate", "--prompt", "hi", "--json-schema", '{"type": "objekt"}'],
     "json_schema is not a valid JSON schema at $.type: 'objekt' is not valid under any of the given schemas"),
    (["generate", "--prompt", "hi", "--json-schema", '{"type": "object"'], "json_schema is not valid JSON"),
    (["generate", "--prompt", "hi", "--json-schema", "missing.json"], "is neither JSON"),
    (["generate", "--prompt", "hi", "--regex", "[^\\s\\S]"], "the regex matches no text at all"),
    (["generate", "--prompt", "hi", "--regex", "(a"], "the regex cannot be used: unclosed group"),
    (["generate", "--prompt", "hi", "--grammar", 'root ::= "a" |)'], "the grammar has a syntax error"),
    (["generate", "--prompt", "hi", "--json-object", "--choices", "a,b"],
     "choose one constraint, not 2: json_object and choices were both given"),
    (["generate", "--prompt", "hi", "--choices", "a,,b"], "choice 2 is empty"),
    (["generate", "--prompt", "hi", "--regex", "[0-9]+", "--no-stop-at-eos"], "keep stop_at_eos on"),
    (["prompt-lab", "run", "--template", "{{ input }} {{ tone }}"], "the template variable 'tone' is not filled"),
    (["prompt-lab", "run", "--task", "sentiment", "--techniques", "few-shot", "--shots", "30"],
     "few-shot k=30 is larger than the 15 examples of the task set sentiment; choose k ≤ 15"),
    (["prompt-lab", "run", "--techniques", "zero-shot,telepathy"], "unknown technique 'telepathy'"),
    (["prompt-lab", "run", "--task", "poetry"], "unknown task 'poetry'; known: arithmetic, extraction, sentiment"),
    (["prompt-lab", "run", "--models", "minilm-l6"], "minilm-l6 is an encoder"),
    (["prompt-lab", "run", "--var", "oops"], "--var needs NAME=VALUE"),
])
def test_bad_input_is_one_line_and_exit_1(argv, message, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("llmpg: error: ") and message in err, err
    assert err.count("\n") == 1


def test_an_empty_task_set_in_a_real_process(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    result = subprocess.run([sys.executable, "-m", "llm_playground", "prompt-lab", "run", "--task", str(empty)],
                            capture_output=True, text=True, env=dict(os.environ), timeout=180)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'llmpg: error: the task set empty.jsonl is empty: it has no items to score (lines with "input" and "answer", '
        'not marked "split": "example")']
