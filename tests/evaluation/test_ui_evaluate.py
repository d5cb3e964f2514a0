"""The web page's Evaluate tab, its handlers called as plain functions (the tiny model folder as a model)."""
from __future__ import annotations

from llm_playground.ui.tabs import evaluate


def is_error(status: str, text: str) -> bool:
    return 'class="llmpg-msg llmpg-error"' in status and text in status


def test_run_streams_progress_then_table_chart_and_items(tiny_folder, items_file, tmp_path):
    task = tmp_path / "tiny-mc.yaml"
    task.write_text(f"name: tiny-mc\ndata:\n  file: {items_file}\nprompt: \"{{{{ question }}}}\"\n"
                    "choices: \"{{ choices | tojson }}\"\nanswer: \"{{ label }}\"\n")
    outputs = list(evaluate.run_evaluation([], f"{tiny_folder}@native, {tiny_folder}@fast", [str(task)], 4))
    bars = [o[0] for o in outputs if isinstance(o[0], str)]
    assert len(bars) >= 2 and 'data-done="8" data-total="8"' in bars[-1]  # 2 models × 4 items
    progress, status, table, figure, picker, data = outputs[-1]
    assert "llmpg-error" not in status
    assert table.count("<tr>") == 3 and "tiny-mc acc_norm" in table
    assert len(figure.axes) == 1 and len(figure.axes[0].patches) == 2
    keys = picker["choices"]
    assert len(keys) == 8 and picker["value"] == keys[0][1]
    html = evaluate.item_html(data, keys[0][1])
    first = data["details"][f"{tiny_folder}@native|tiny-mc"]["items"][0]
    assert f"{first['logprobs'][0]:.4f}" in html and "right answer" in html and "acc_norm pick" in html


def test_bad_input_is_an_inline_message():
    out = list(evaluate.run_evaluation([], "", ["arithmetic"], 5))[-1]
    assert is_error(out[1], "choose at least one model")
    out = list(evaluate.run_evaluation(["smollm2-135m-instruct"], "", [], 5))[-1]
    assert is_error(out[1], "choose at least one task")
    out = list(evaluate.run_evaluation(["smollm2-135m-instruct"], "", ["arithmetic"], 0))[-1]
    assert is_error(out[1], "Items per task is 0")
    out = list(evaluate.run_evaluation(["smollm2-135m-instruct"], "nope@fast", ["arithmetic"], 3))[-1]
    assert is_error(out[1], "unknown model &#x27;nope&#x27;")


def test_task_choices_offer_the_page_tasks():
    names = [name for _, name in evaluate.task_choices()]
    assert "arithmetic" in names and "perplexity" in names and "humaneval" not in names
    assert 'data-done="1"' in evaluate.progress_html("x", 1, 4, 2.0) and "about 6 s left" in evaluate.progress_html("x", 1, 4, 2.0)
