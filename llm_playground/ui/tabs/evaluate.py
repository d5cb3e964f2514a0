"""Evaluate: run tasks on models with a live progress bar; the leaderboard, its chart, and every
multiple-choice item opened up to the log-likelihood of each choice.

The handlers only convert widget values into the library's calls (`evaluation.run_suite`) and draw
what comes back; the numbers are the library's.
"""
from __future__ import annotations

import queue
import threading
import time

import gradio as gr

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation import load_tasks, resolve_contestants, run_suite
from llm_playground.evaluation.suite import SuiteResults, leaderboard_figure, leaderboard_rows
from llm_playground.evaluation.tasks import builtin_tasks
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, escape, inline_errors, model_notes,
                                      loading_note, message, messages, model_choices, require_number)

TITLE = "Evaluate"
DEFAULT_TASKS = ["arithmetic"]
MAX_LIMIT = 500
CSS_CLASSES = "eval-progress"


class _Stopped(Exception):
    """Raised inside the suite's progress callback when the page asked to stop."""


def task_choices() -> list[tuple[str, str]]:
    """(label, name) of the built-in tasks the page offers (HumanEval stays on the CLI: minutes per model)."""
    from llm_playground.evaluation.tasks import load_task

    choices = []
    for name in builtin_tasks():
        task = load_task(name)
        if task.kind != "humaneval":
            choices.append((f"{name} — {task.kind.replace('_', ' ')}", name))
    return choices


def progress_html(label: str, done: int, total: int, elapsed: float) -> str:
    """A progress bar with the current step, percentage and ETA."""
    fraction = done / total if total else 0.0
    eta = elapsed / fraction - elapsed if fraction > 0 else None
    eta_text = f", about {eta:.0f} s left" if eta is not None and fraction < 1 else ""
    return (f'<div class="{CSS_CLASSES}" data-done="{done}" data-total="{total}">'
            f'<div style="background:#e5e7eb;border-radius:4px;height:12px;">'
            f'<div style="width:{fraction * 100:.1f}%;background:#3b82f6;height:12px;border-radius:4px;"></div></div>'
            f'<small>{escape(label)} — {done}/{total} ({fraction:.0%}), {elapsed:.0f} s{eta_text}</small></div>')


def table_html(results: SuiteResults) -> str:
    header, rows = leaderboard_rows(results)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    skipped = sorted({f"{r.model} · {r.task}: {r.skipped}" for r in results.rows if r.skipped})
    notes = "".join(f"<div><small>{escape(s)}</small></div>" for s in skipped)
    return (f'<table class="eval-board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}'
            '<div><small>acc / acc_norm as lm-evaluation-harness defines them (± standard error); bits per byte '
            'and perplexity: lower is better (↓)</small></div>')


def item_keys(data: dict) -> list[tuple[str, str]]:
    """(label, key) for every multiple-choice item in the results: `model · task · #n ✓`."""
    keys = []
    for pair, detail in (data or {}).get("details", {}).items():
        if detail.get("kind") != "multiple_choice":
            continue
        model, task = pair.split("|", 1)
        for position, item in enumerate(detail["items"]):
            mark = "✓" if item["acc_norm"] else "✗"
            keys.append((f"{model} · {task} · #{item['index'] + 1} {mark}", f"{pair}|{position}"))
    return keys


def item_html(data: dict, key: str | None) -> str:
    """One item: the prompt, and per choice its log-likelihood, per-character value, tokens and marks."""
    if not data or not key:
        return ""
    model, task, position = key.rsplit("|", 2)
    item = data["details"][f"{model}|{task}"]["items"][int(position)]
    rows = []
    for index, (choice, logprob, tokens) in enumerate(zip(item["choices"], item["logprobs"], item["tokens"])):
        marks = " ".join(m for m, on in (("right answer", index == item["answer"]), ("acc pick", index == item["pred"]),
                                          ("acc_norm pick", index == item["pred_norm"])) if on)
        style = ' style="background:#dcfce7"' if index == item["answer"] else ""
        per_char = logprob / len(choice) if choice else float("nan")
        rows.append(f"<tr{style}><td>{index}</td><td>{escape(choice)}</td><td>{logprob:.4f}</td>"
                    f"<td>{per_char:.4f}</td><td>{tokens}</td><td>{escape(marks)}</td></tr>")
    return (f'<div class="eval-item"><h4>{escape(model)} · {escape(task)} · item {item["index"] + 1}</h4>'
            f'<pre class="cmp-input">{escape(item["prompt"])}</pre>'
            '<table><thead><tr><th>#</th><th>choice</th><th>Σ ln p</th><th>Σ ln p ÷ characters</th><th>tokens</th>'
            f'<th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<small>acc {item["acc"]:.0f}, acc_norm {item["acc_norm"]:.0f}: each choice is scored as the '
            'log-likelihood of " " + choice after the prompt</small></div>')


def _references(models: list[str] | None, extra: str | None) -> list[str]:
    names = list(models or []) + [x.strip() for x in (extra or "").split(",") if x.strip()]
    if not names:
        raise PlaygroundError("choose at least one model (or type one, such as smollm2-135m-instruct@fast-int4)")
    return names


@inline_errors(6, status_index=1)
def run_evaluation(models: list[str], extra: str, tasks: list[str], limit):
    """Handler, streaming → (progress, status, table, chart, item picker, results state)."""
    limit = require_number(limit, "Items per task", integer=True)
    if not 1 <= limit <= MAX_LIMIT:
        raise PlaygroundError(f"Items per task is {limit}; the page allows 1–{MAX_LIMIT} (the CLI has no limit)")
    if not tasks:
        raise PlaygroundError("choose at least one task")
    task_list = load_tasks(list(tasks))
    contestants = resolve_contestants(_references(models, extra))
    names = [getattr(c, "model", "") for c in contestants]
    info = [(note, "info") for note in model_notes(names)]
    updates: queue.Queue = queue.Queue()
    stop = threading.Event()
    outcome: dict = {}

    def progress(label, done, total):
        if stop.is_set():
            raise _Stopped()
        updates.put((label, done, total))

    def work():
        try:
            outcome["results"] = run_suite(contestants, task_list, limit=limit, progress=progress)
        except _Stopped:
            outcome["error"] = "stopped"
        except PlaygroundError as error:
            outcome["error"] = str(error)
        except Exception as error:  # noqa: BLE001 — shown, not swallowed: a bug, but the page stays usable
            outcome["error"] = f"{type(error).__name__}: {error}"

    started = time.perf_counter()
    note = loading_note([n for n in names if n])
    yield (progress_html("starting", 0, 1, 0.0), messages(*info, (note or "running…", "busy")), gr.skip(),
           gr.skip(), gr.skip(), gr.skip())
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    label, done, total = "starting", 0, 1
    try:
        while worker.is_alive() or not updates.empty():
            try:
                label, done, total = updates.get(timeout=0.5)
                while not updates.empty():
                    label, done, total = updates.get_nowait()
            except queue.Empty:
                pass
            yield (progress_html(label, done, total, time.perf_counter() - started), gr.skip(), gr.skip(), gr.skip(),
                   gr.skip(), gr.skip())
    finally:
        stop.set()  # the page stopped listening (Stop, or the tab closed): let the worker end at its next item
    if "error" in outcome:
        raise PlaygroundError(outcome["error"])
    results = outcome["results"]
    data = results.to_dict()
    keys = item_keys(data)
    yield (progress_html("done", total, total, time.perf_counter() - started), messages(*info), table_html(results),
           leaderboard_figure(results), gr.update(choices=keys, value=keys[0][1] if keys else None), data)


def stopped() -> str:
    return message("stopped: the run ends at its next item", "info")


def build() -> None:
    gr.Markdown("Score models on tasks the way the field does: multiple choice by log-likelihood (acc and acc_norm "
                "exactly as lm-evaluation-harness), perplexity with a sliding window. Compare precisions by adding "
                "`@fast-int4` and friends to a model name. `llmpg eval` runs the same suites, HumanEval and judging.")
    with gr.Row():
        models = gr.CheckboxGroup(model_choices(), value=[DEFAULT_CHAT_MODEL], label="Models", scale=3)
        extra = gr.Textbox(label="More models", placeholder="smollm2-135m-instruct@fast-int4, /path/to/model-folder",
                           info="NAME@BACKEND (auto, native, hf, fast, fast-bf16, fast-int8, fast-int4), comma-separated",
                           scale=2)
    with gr.Row():
        tasks = gr.CheckboxGroup(task_choices(), value=DEFAULT_TASKS, label="Tasks", scale=3)
        limit = gr.Number(label="Items per task", value=20, precision=None, info=f"1–{MAX_LIMIT}", scale=1)
    with gr.Row():
        go = gr.Button("Evaluate", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    bar = gr.HTML(elem_id="eval-progress")
    status = gr.HTML()
    board = gr.HTML(elem_id="eval-board")
    chart = gr.Plot(label="Leaderboard")
    picker = gr.Dropdown(choices=[], label="Open a multiple-choice item", interactive=True, elem_id="eval-item-picker")
    item = gr.HTML(elem_id="eval-item")
    state = gr.State()
    running = go.click(run_evaluation, [models, extra, tasks, limit], [bar, status, board, chart, picker, state],
                       concurrency_id=MODEL_CONCURRENCY, api_name="evaluate")
    stop.click(stopped, None, status, cancels=[running], queue=False)
    picker.change(item_html, [state, picker], item)
